# py-buffer-serve, the HTTP server (serve/; included by the root Makefile).
#
#   make build-serve   compiles serve/src/*.erl (and serve/compat, see below) into serve/ebin;
#                      bin/py-buffer-serve runs them (erl -pa nif/ebin -pa serve/ebin)
#   make test-serve    build-serve, dialyzer-serve, the EUnit tests of serve/test (the
#                      server's pure parts), then the HTTP tests (serve/tests, pytest, the
#                      real server on loopback ports; bounded: a few minutes)
#   make dialyzer-serve  dialyzer on serve/ebin with nif/ebin and mochiweb (zero warnings)
#   (make demo, in the root Makefile, runs examples/http/demo.py on build-serve)
#   make bench-http    the HTTP benchmarks against gunicorn, uvicorn and Granian
#                      (benches/http/bench.py; prints markdown, writes docs/benchmarks-http/*.png;
#                      installs benches/requirements.txt, matplotlib, for the plots)
#   make bench-http-tls  the same comparison with every server and load over HTTPS (tables)
#   make bench-http-scale  the same apps with 1, 2 and 4 interpreters: py-buffer-serve --nodes N
#                      against gunicorn -w N and uvicorn --workers N, 3 rounds in alternating
#                      order, medians (bench.py --scale; BENCH_HTTP_SCALE_ARGS, e.g. --rounds 5
#                      or --quick; prints markdown for docs/scaling.md, writes
#                      benches/http/scale_bench.json and docs/scaling-http.png)
#
# serve/compat holds modules the server needs from the `py_buffer' application that are not
# (yet) in nif/src; one that nif/src has is skipped, so nif/src always wins.

SERVE_EBIN := serve/ebin
SERVE_TEST_EBIN := serve/_build/test_ebin
SERVE_COMPAT = $(filter-out $(patsubst nif/src/%,serve/compat/%,$(wildcard nif/src/*.erl)),\
                 $(wildcard serve/compat/*.erl))
MOCHIWEB_EBIN := $(shell $(ERL) -noshell -eval 'io:format("~s", [filename:dirname(code:which(mochiweb))]), halt().' 2>/dev/null)
SERVE_PLT := serve/_build/serve.plt

BUILD_PARTS += build-serve
TEST_PARTS += test-serve

.PHONY: build-serve dialyzer-serve test-serve bench-http bench-http-tls bench-http-scale

build-serve: build-nif
	mkdir -p $(SERVE_EBIN)
	rm -f $(SERVE_EBIN)/*.beam
	$(ERLC) -Wall -Werror +debug_info +warn_missing_spec -pa nif/ebin -o $(SERVE_EBIN) \
		serve/src/*.erl $(SERVE_COMPAT)

dialyzer-serve: build-serve
	mkdir -p $(dir $(SERVE_PLT))
	test -f $(SERVE_PLT) || $(DIALYZER) --build_plt --output_plt $(SERVE_PLT) \
		--apps erts kernel stdlib inets crypto public_key ssl $(MOCHIWEB_EBIN)
	$(DIALYZER) --plt $(SERVE_PLT) -Wunmatched_returns -Werror_handling -pa nif/ebin \
		$(SERVE_EBIN) nif/ebin

test-serve: build-serve dialyzer-serve
	mkdir -p $(SERVE_TEST_EBIN)
	$(ERLC) -Wall -Werror -o $(SERVE_TEST_EBIN) serve/test/*.erl
	$(ERL) -noshell -pa $(SERVE_EBIN) -pa $(SERVE_TEST_EBIN) -eval \
		'Ms = [list_to_atom(filename:basename(F, ".beam")) || F <- filelib:wildcard("$(SERVE_TEST_EBIN)/*.beam")], halt(case eunit:test(Ms, [verbose]) of ok -> 0; _ -> 1 end).'
	$(PYTHON) -m pytest -q -p no:cacheprovider serve/tests

bench-http: build-serve
	$(PYTHON) -m pip install -q -r benches/requirements.txt
	$(PYTHON) benches/http/bench.py

bench-http-tls: build-serve
	$(PYTHON) -m pip install -q -r benches/requirements.txt
	$(PYTHON) benches/http/bench.py --tls

BENCH_HTTP_SCALE_ARGS ?=
bench-http-scale: build-serve
	$(PYTHON) -m pip install -q -r benches/requirements.txt
	$(PYTHON) benches/http/bench.py --scale $(BENCH_HTTP_SCALE_ARGS)
