# The Erlang NIF `py_buffer` (included by the root Makefile).
#
#   make build-nif   nif/build_native.sh (cargo-builds the NIF into nif/priv/py_buffer_nif.so
#                    and copies the pure-Python package python/py_buffer/*.py to
#                    nif/priv/python/py_buffer, the embedded interpreter's `import py_buffer`;
#                    its classes come from the NIF itself, so no _native*.so is copied), then
#                    compiles the Erlang sources (nif/src) into nif/ebin with the application
#                    file nif/ebin/py_buffer.app (then `erl -pa nif/ebin`)
#   make test-nif    build-nif with the cargo feature `test-hooks` (the test-only NIFs), then
#                    dialyzer, then every EUnit module in nif/test (fails on any failure); the
#                    examples (examples/erlang) are compiled with the tests and run by
#                    nif/test/py_examples_tests.erl
#                    (a short PropEr run included: py_buffer_proper_tests, prop_run)
#   make proper      the PropEr properties of nif/test, PROPER_NUMTESTS cases each (default
#                    5000; docs/reliability.md, "PropEr")
#   make test-nif-pythons  the embedded interpreter built against every other pyenv CPython
#                    3.10-3.13 whose virtualenv `make test-python` made: a smoke check, then
#                    py_lifecycle_tests on each (scripts/test-nif-pythons)
#   make dialyzer    dialyzer on nif/ebin, zero warnings allowed; the PLT (erts, kernel,
#                    stdlib) is built once into nif/_build/py_buffer.plt
#   make build-examples  build-nif, then examples/erlang into examples/ebin (`make demo-vm')
#   make bench-py    the Erlang -> Python benchmarks (benches/erlang/py_*.escript)
#   make bench-seed  ours against the seed's C implementation, side by side
#                    (benches/erlang/seed_compare.escript; SEED_DIR=the seed's application
#                    directory, built outside the repo as docs/benchmarks.md describes)
#   make bench-serve the serving benchmarks (benches/erlang/serve_bench.escript): a 1 KiB POST
#                    through a WSGI and an ASGI app per request vs a py:call no-op, and
#                    64 MiB up and down through an app vs memcpy (py_request, one VM, no HTTP)
#   make bench-scale the scaling-out benchmarks (benches/erlang/scale_bench.escript): 1 KiB echo
#                    and uploads through 1, 2, 4 local app nodes vs the single-node path, the
#                    front's routing capacity and the hop's cost; plot into docs/scaling.png
#
# The cdylib comes from cargo's target dir: $CARGO_TARGET_DIR when set, else target/.
# rebar3 builds the same application: `cd nif && rebar3 compile` (nif/rebar.config).

ERL ?= erl
ERLC ?= erlc
DIALYZER ?= dialyzer
# Cargo features of the NIF: none for build-nif, `test-hooks` for test-nif and bench-nif
# (target-specific values, which their prerequisites inherit).
NIF_FEATURES ?=
NIF_PLT := nif/_build/py_buffer.plt
NIF_TEST_EBIN := nif/test/ebin
NIF_TEST_MODULES = $(basename $(notdir $(wildcard nif/test/*_tests.erl)))
nif_comma := ,
nif_empty :=
nif_space := $(nif_empty) $(nif_empty)
NIF_TEST_LIST = $(subst $(nif_space),$(nif_comma),$(strip $(NIF_TEST_MODULES)))

BUILD_PARTS += build-nif
TEST_PARTS += test-nif test-nif-pythons

.PHONY: build-nif nif-native nif-ebin nif-test-ebin dialyzer test-nif proper proper-check test-nif-pythons bench-nif build-examples bench-py bench-serve bench-scale bench-seed bench-wake-trace test-seed-suite

build-nif: nif-native nif-ebin

nif-native:
	CARGO=$(CARGO) PY_BUFFER_NIF_FEATURES=$(NIF_FEATURES) sh nif/build_native.sh

# The modules, then the application file: nif/src/py_buffer.app.src with its module list.
NIF_APP_EVAL = {ok, [{application, App, Props}]} = file:consult("nif/src/py_buffer.app.src"), \
	Mods = lists:sort([list_to_atom(filename:basename(F, ".erl")) \
	                   || F <- filelib:wildcard("nif/src/*.erl")]), \
	App1 = {application, App, lists:keystore(modules, 1, Props, {modules, Mods})}, \
	ok = file:write_file("nif/ebin/py_buffer.app", io_lib:format("~p.~n", [App1])), \
	halt().

nif-ebin:
	mkdir -p nif/ebin
	$(ERLC) -Wall -Werror +debug_info +warn_missing_spec -o nif/ebin nif/src/*.erl
	$(ERL) -noshell -eval '$(NIF_APP_EVAL)'

dialyzer: nif-ebin
	mkdir -p $(dir $(NIF_PLT))
	test -f $(NIF_PLT) || $(DIALYZER) --build_plt --output_plt $(NIF_PLT) --apps erts kernel stdlib
	$(DIALYZER) --plt $(NIF_PLT) -Wunmatched_returns -Werror_handling nif/ebin

# The EUnit modules, the PropEr properties and the examples they run, into nif/test/ebin.
nif-test-ebin:
	mkdir -p $(NIF_TEST_EBIN)
	$(ERLC) -Wall -Werror -o $(NIF_TEST_EBIN) nif/test/*.erl examples/erlang/*.erl

# PropEr (erlang-proper-dev): nif/test/prop_*.erl include proper.hrl. Fails with a clear
# message when it is missing (scripts/setup installs it from .ci/debian-packages.txt).
PROPER_NUMTESTS ?= 5000
PROPER_CHECK = case code:lib_dir(proper) of \
	  {error, _} -> io:format(standard_error, "PropEr is missing: apt-get install erlang-proper-dev (make setup installs it)~n", []), halt(1); \
	  Dir -> case filelib:is_file(filename:join([Dir, "include", "proper.hrl"])) of \
	           true -> halt(0); \
	           false -> io:format(standard_error, "PropEr has no proper.hrl: apt-get install erlang-proper-dev~n", []), halt(1) end end.

proper-check:
	@$(ERL) -noshell -eval '$(PROPER_CHECK)'

# The long PropEr run (docs/reliability.md, "PropEr"): every property, PROPER_NUMTESTS cases each.
proper: NIF_FEATURES = test-hooks
proper: proper-check build-nif nif-test-ebin
	$(ERL) -noshell -pa nif/ebin $(NIF_TEST_EBIN) -eval 'py_buffer_test_helpers:setup(), prop_run:main(["$(PROPER_NUMTESTS)"]).'

test-nif: NIF_FEATURES = test-hooks
test-nif: proper-check build-nif dialyzer nif-test-ebin
	$(ERL) -noshell -pa nif/ebin $(NIF_TEST_EBIN) -eval \
		'case eunit:test([$(NIF_TEST_LIST)], [verbose]) of ok -> halt(0); _ -> halt(1) end.'

test-nif-pythons: nif-ebin nif-test-ebin
	bash scripts/test-nif-pythons

# The write benchmark: prints markdown tables (recorded in docs/benchmarks.md, "Erlang NIF").
bench-nif: NIF_FEATURES = test-hooks
bench-nif: build-nif
	escript benches/erlang/write_bench.escript

build-examples: build-nif
	mkdir -p examples/ebin
	$(ERLC) -Wall -Werror -o examples/ebin examples/erlang/*.erl

# The Erlang -> Python benchmarks: prints markdown (docs/benchmarks.md, "Erlang -> Python").
bench-py: build-nif
	escript benches/erlang/py_bench.escript

# The serving benchmarks: prints markdown (docs/benchmarks.md, "Serving from Erlang").
bench-serve: build-nif
	escript benches/erlang/serve_bench.escript

# The scaling-out benchmarks: prints markdown (docs/scaling.md), writes
# benches/erlang/scale_bench.json and plots it into docs/scaling.png (matplotlib,
# benches/requirements.txt; the plot is skipped without it).
bench-scale: build-nif
	escript benches/erlang/scale_bench.escript
	$(PYTHON) benches/erlang/scale_plot.py || echo "no plot: pip install -r benches/requirements.txt"

# Ours against the seed's C build: one markdown table (docs/benchmarks.md, "Against the
# seed's C implementation"). `quick' and `runs N' via BENCH_SEED_ARGS.
SEED_DIR ?=
BENCH_SEED_ARGS ?=
# Where an Erlang -> Python wake-up's time goes (a NIF with the wake-trace timestamps; the
# next build-nif rebuilds the plain one).
bench-wake-trace: NIF_FEATURES = wake-trace
bench-wake-trace: build-nif
	escript benches/erlang/wake_trace.escript $(WAKE_TRACE_STAMPS)

# The seed's own buffer suite (test/py_buffer_SUITE.erl of a checkout outside the repo)
# against our build; exactly the contract's departures may fail (scripts/seed-suite.sh).
SEED_SRC ?=
test-seed-suite: build-nif
	SEED_SRC=$(SEED_SRC) bash scripts/seed-suite.sh

bench-seed: build-nif
	@test -n "$(SEED_DIR)" || { echo "make bench-seed SEED_DIR=DIR: DIR is the seed's erlang_python build (docs/benchmarks.md says how to make it)"; exit 2; }
	SEED_DIR=$(SEED_DIR) escript benches/erlang/seed_compare.escript $(BENCH_SEED_ARGS)
