# Reliability checks (issue 13; docs/reliability.md): included by the root Makefile.
#
#   make sanitize   ASan + LeakSanitizer over the Rust suites (core, sync facade, umbrella
#                   crate with tests/ and examples; doctests included) on nightly
#   make tsan       ThreadSanitizer over the threaded tests, std instrumented too
#                   (-Zbuild-std: needs rust-src; skipped without it, docs/reliability.md)
#   make fuzz       every cargo-fuzz target for FUZZ_SECONDS each (default 600), then the
#                   long PropEr run (make proper, PROPER_NUMTESTS cases per property)
#   make memcheck   a subset of the Python suite under Valgrind memcheck (MEMCHECK_TESTS picks
#                   the files); make memcheck-full: the whole suite
#   make memcheck-nif  a subset of the NIF's EUnit suites (MEMCHECK_NIF_MODULES picks the
#                   modules) in a VM whose NIF is built with ASan + LeakSanitizer, the runtime
#                   preloaded (scripts/memcheck-nif.sh); make memcheck-nif-full: every suite
#   make test-reliability   the bounded runs `make test` adds: sanitize, a 60 s fuzz smoke
#                   (30 s per target), the memcheck subset, the memcheck-nif subset
#
# Without `cargo +nightly` (sanitize, tsan, fuzz, memcheck-nif), valgrind (memcheck) or a
# shared ASan runtime (memcheck-nif) each prints one line saying it is skipped and succeeds.

NIGHTLY ?= $(CARGO) +nightly
ASAN_TARGET ?= x86_64-unknown-linux-gnu
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
# A venv of its own (CPython >= 3.12, see scripts/memcheck.sh), so the memcheck build never
# replaces another interpreter's extension.
MEMCHECK_VENV ?= $(CURDIR)/target/memcheck-venv
MEMCHECK_TESTS ?= $(MEMCHECK_SUBSET)
# Every native method, the buffer export, asyncio wake-ups (asyncio's loop; uvloop only in
# memcheck-full) and threads; about 3 min under valgrind (docs/reliability.md).
MEMCHECK_SUBSET := python/tests/test_seed_api.py python/tests/test_writer.py \
	python/tests/test_writer_errors.py python/tests/test_semantics.py \
	python/tests/test_file_protocol.py python/tests/test_asyncio.py \
	python/tests/test_awaitable_protocol.py python/tests/test_threads.py \
	python/tests/test_reader_gone.py python/tests/test_beyond_bound.py \
	python/tests/test_asgi.py python/tests/test_memcheck_coverage.py \
	python/tests/test_readline_args.py
MEMCHECK_SUBSET_ARGS := -k "not uvloop and not idle and not streamed_bytes_are_exact"
# test_idle_check_catches_polling expects a loop polling every 1 ms to wake its thread over 200
# times a second; valgrind's slow, serialised threads cannot (2 failures, 0 memory errors).
MEMCHECK_FULL_ARGS := -k "not idle_check_catches_polling"

MEMCHECK_NIF_MODULES ?= $(MEMCHECK_NIF_SUBSET)
# Every EUnit module but three whose assertions ASan changes by design, not through a memory
# error (docs/reliability.md, 2b): py_tests (an RSS bound, while ASan's allocator holds freed
# memory), py_call_args_tests (no 10 ms scheduler stall while large arguments are copied, with
# ASan's slower code) and py_conversion_tests (a 10-million-node walk, 28-45 s under ASan
# here, twice, against its 120 s timeout). memcheck-nif-full runs them too.
MEMCHECK_NIF_SUBSET := $(filter-out py_tests py_call_args_tests py_conversion_tests,$(NIF_TEST_MODULES))

.PHONY: sanitize tsan fuzz fuzz-smoke memcheck memcheck-full memcheck-nif memcheck-nif-full test-reliability

sanitize:
	@CARGO="$(NIGHTLY)" TARGET=$(ASAN_TARGET) bash scripts/sanitize.sh address

tsan:
	@CARGO="$(NIGHTLY)" TARGET=$(ASAN_TARGET) bash scripts/sanitize.sh thread

# The long runs of random input: the cargo-fuzz targets, then the PropEr properties of the
# Erlang API (`make proper`, nif/nif.mk; PROPER_NUMTESTS cases each).
fuzz:
	@CARGO="$(NIGHTLY)" bash scripts/fuzz.sh $(FUZZ_SECONDS)
	$(MAKE) proper

fuzz-smoke:
	@CARGO="$(NIGHTLY)" bash scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

memcheck:
	@VENV="$(MEMCHECK_VENV)" MEMCHECK_PYTEST_ARGS='$(MEMCHECK_SUBSET_ARGS)' \
		bash scripts/memcheck.sh $(MEMCHECK_TESTS)

memcheck-full:
	@VENV="$(MEMCHECK_VENV)" MEMCHECK_PYTEST_ARGS='$(MEMCHECK_FULL_ARGS)' \
		bash scripts/memcheck.sh python/tests

memcheck-nif: nif-ebin nif-test-ebin
	@CARGO="$(NIGHTLY)" TARGET=$(ASAN_TARGET) PYTHON=$(PYTHON) \
		bash scripts/memcheck-nif.sh $(MEMCHECK_NIF_MODULES)

memcheck-nif-full: nif-ebin nif-test-ebin
	@CARGO="$(NIGHTLY)" TARGET=$(ASAN_TARGET) PYTHON=$(PYTHON) \
		bash scripts/memcheck-nif.sh $(NIF_TEST_MODULES)

test-reliability: sanitize fuzz-smoke memcheck memcheck-nif

TEST_PARTS += test-reliability
