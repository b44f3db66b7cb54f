# The Erlang NIF `py_buffer` (included by the root Makefile).
#
#   make build-nif   cargo-builds the NIF, copies it to nif/priv/py_buffer_nif.so, the
#                    pure-Python package python/py_buffer/*.py to nif/priv/python/py_buffer
#                    (the embedded interpreter's `import py_buffer`; its classes come from
#                    the NIF itself, so no _native*.so is copied) and compiles the Erlang
#                    sources into nif/ebin (then `erl -pa nif/ebin`)
#   make test-nif    build-nif, then every EUnit module in nif/test (fails on any failure);
#                    the examples (examples/erlang) are compiled with the tests and run by
#                    nif/test/py_examples_tests.erl
#   make build-examples  build-nif, then examples/erlang into examples/ebin (`make demo')
#   make bench-py    the Erlang -> Python benchmarks (benches/erlang/py_*.escript)
#
# The cdylib comes from cargo's target dir: $CARGO_TARGET_DIR when set, else target/.

ERL ?= erl
ERLC ?= erlc
NIF_CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)
NIF_TEST_EBIN := nif/test/ebin
NIF_TEST_MODULES = $(basename $(notdir $(wildcard nif/test/*_tests.erl)))
nif_comma := ,
nif_empty :=
nif_space := $(nif_empty) $(nif_empty)
NIF_TEST_LIST = $(subst $(nif_space),$(nif_comma),$(strip $(NIF_TEST_MODULES)))

BUILD_PARTS += build-nif
TEST_PARTS += test-nif

.PHONY: build-nif test-nif bench-nif build-examples bench-py

build-nif:
	$(CARGO) build --release -p py-buffer-nif
	mkdir -p nif/priv nif/ebin
	cp $(NIF_CARGO_TARGET)/release/libpy_buffer_nif.so nif/priv/py_buffer_nif.so
	rm -rf nif/priv/python && mkdir -p nif/priv/python/py_buffer
	cp python/py_buffer/*.py nif/priv/python/py_buffer/
	$(ERLC) -Wall -Werror -o nif/ebin nif/src/*.erl

test-nif: build-nif
	mkdir -p $(NIF_TEST_EBIN)
	$(ERLC) -Wall -Werror -o $(NIF_TEST_EBIN) nif/test/*.erl examples/erlang/*.erl
	$(ERL) -noshell -pa nif/ebin $(NIF_TEST_EBIN) -eval \
		'case eunit:test([$(NIF_TEST_LIST)], [verbose]) of ok -> halt(0); _ -> halt(1) end.'

# The write benchmark: prints markdown tables (recorded in docs/benchmarks.md, "Erlang NIF").
bench-nif: build-nif
	escript benches/erlang/write_bench.escript

build-examples: build-nif
	mkdir -p examples/ebin
	$(ERLC) -Wall -Werror -o examples/ebin examples/erlang/*.erl

# The Erlang -> Python benchmarks: prints markdown (docs/benchmarks.md, "Erlang -> Python").
bench-py: build-nif
	escript benches/erlang/py_bench.escript
