# The soak (issue 13; docs/reliability.md, "Soak"): included by the root Makefile.
#
#   make soak MINUTES=N   every workload at once for N minutes (default 30) in one VM with the
#                         embedded Python (soak/py_soak.erl): samples every 5 s, fails on a
#                         broken band, an unaccounted byte or a crashed worker
#   make dialyzer-soak    dialyzer on the soak's modules (with nif/ebin, the PLT of `make dialyzer`)
#   make test-soak        dialyzer-soak, then the 2-minute soak (what `make test` runs)

MINUTES ?= 30
SOAK_EBIN := soak/ebin

TEST_PARTS += test-soak

.PHONY: soak test-soak soak-ebin dialyzer-soak

soak-ebin: build-nif
	mkdir -p $(SOAK_EBIN)
	$(ERLC) -Wall -Werror +debug_info +warn_missing_spec -o $(SOAK_EBIN) soak/*.erl

soak: soak-ebin
	$(ERL) -noshell -pa nif/ebin -pa $(SOAK_EBIN) -run py_soak main $(MINUTES)

dialyzer-soak: soak-ebin dialyzer
	$(DIALYZER) --plt $(NIF_PLT) -Wunmatched_returns -Werror_handling nif/ebin $(SOAK_EBIN)

test-soak: dialyzer-soak
	$(MAKE) soak MINUTES=2
