# py_buffer: one entry point for building, testing and the demo.
#
#   make demo   the main demo: py-buffer-serve (bin/, serve/) serves a Flask (WSGI) and a
#               Starlette (ASGI) app on a loopback port; curl uploads 256 MiB (Content-Length
#               and chunked) and downloads 64 MiB; sha256s, throughput and the server's peak
#               memory are printed (examples/http/demo.py)
#   make demo-vm  the in-VM demo: an Erlang process streams a body into a buffer that a Python
#               WSGI app and an ASGI app read, in one VM (examples/erlang/demo.erl)
#   make demo-rust  the Rust streaming demo (examples/stream_demo.rs)
#   make test   every test: Rust (fmt, clippy, unit, doc, loom), Python (the default
#               interpreter, then every pyenv CPython 3.10-3.13), Erlang (EUnit, PropEr, dialyzer)
#   make build  everything (Python extension installed, Erlang side in nif/ebin and nif/priv,
#               the HTTP server in serve/ebin)
#   make setup  install what a fresh Debian 12 machine lacks (scripts/setup; demo and test
#               run it first, and it does nothing once everything is there)
#   make sanitize / tsan / fuzz / memcheck   ASan+LSan, ThreadSanitizer, cargo-fuzz (long runs,
#               FUZZ_SECONDS=N), Valgrind on the Python binding (reliability.mk,
#               docs/reliability.md); `make test` runs bounded versions of sanitize, fuzz and
#               memcheck
#   make bench-before-after BEFORE=<commit> [SETS="rust python asyncio nif py serve"] [RUNS=N]
#               [LOCK=/tmp/bench.lock]   every benchmark set for BEFORE (built in a worktree under
#               target/) and for this tree, alternating, one before/after table per set
#               (benches/before_after.py, docs/benchmarks.md "Before and after issue 12")
#   make bench-seed SEED_DIR=<seed build> / make test-seed-suite SEED_SRC=<seed checkout>
#               ours against the seed's C implementation built outside the repo: the
#               side-by-side benchmark table, and the seed's own buffer test suite run against
#               ours (nif/nif.mk; docs/benchmarks.md, docs/decisions.md)
#   make soak MINUTES=N   every workload at once in one VM with the embedded Python for N
#               minutes (default 30), sampled, bands checked, every byte accounted
#               (soak/soak.mk, docs/reliability.md "Soak"); `make test` runs 2 minutes
#
# Language parts add themselves through python/python.mk, nif/nif.mk and serve/serve.mk, which
# append their targets to BUILD_PARTS / TEST_PARTS; so do the reliability checks (reliability.mk)
# and the soak (soak/soak.mk).

CARGO ?= cargo
PYTHON ?= python3
BUILD_PARTS :=
TEST_PARTS :=

.PHONY: all setup build test demo demo-vm demo-rust build-rust test-rust lint-rust loom bench bench-before-after

all: build

setup:
	PYTHON=$(PYTHON) bash scripts/setup

-include python/python.mk
-include nif/nif.mk
-include serve/serve.mk
-include reliability.mk
-include soak/soak.mk

build: build-rust $(BUILD_PARTS)

build-rust:
	$(CARGO) build --release -p py-buffer -p py-buffer-core -p py-buffer-sync --examples

lint-rust:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: lint-rust
	$(CARGO) test --workspace
	$(MAKE) loom

# The loom models of the wake-up protocol (bounded: a preemption bound keeps them quick).
loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
		$(CARGO) test -p py-buffer-core --release --target-dir target/loom --test loom

test: setup
	$(MAKE) test-rust $(TEST_PARTS)

demo: setup
	$(MAKE) build-serve
	$(PYTHON) examples/http/demo.py

demo-vm: setup
	$(MAKE) build-examples
	$(ERL) -noshell -pa nif/ebin -pa examples/ebin -s demo main

demo-rust: build-rust
	$(CARGO) run --release --example stream_demo

bench:
	$(CARGO) bench -p py-buffer

BEFORE ?=
SETS ?=
RUNS ?=
LOCK ?=
bench-before-after:
	@test -n "$(BEFORE)" || { echo "make bench-before-after BEFORE=<commit>: the commit to compare this tree against"; exit 2; }
	$(PYTHON) benches/before_after.py --before $(BEFORE) $(if $(RUNS),--runs $(RUNS)) $(foreach s,$(SETS),--set $(s)) $(if $(LOCK),--lock $(LOCK))
