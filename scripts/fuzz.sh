#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (libFuzzer, ASan, nightly). Used by
# `make fuzz` (FUZZ_SECONDS) and the smoke run of `make test`; docs/reliability.md.
#
# A crash leaves its input in fuzz/artifacts/<target>/ and fails; reproduce it with
# `cargo +nightly fuzz run <target> <file>`; the panic prints the decoded case, which pastes
# into a `py_buffer_model::check` call in async_core/tests/ as the regression test. Corpora
# grow in fuzz/corpus/ (not in git).
set -euo pipefail
seconds=${1:?usage: fuzz.sh SECONDS}
CARGO=${CARGO:-cargo +nightly}
if ! $CARGO --version >/dev/null 2>&1; then
	echo "fuzz: skipped, '$CARGO' is not available"
	exit 0
fi
if ! $CARGO fuzz --version >/dev/null 2>&1; then
	echo "fuzz: installing cargo-fuzz (once; builds from crates.io)"
	$CARGO install --locked cargo-fuzz
fi
start=$SECONDS
cd fuzz
for target in $($CARGO fuzz list); do
	mkdir -p "corpus/$target"
	# -rss_limit_mb: a hostile content length or read size must not make the core allocate
	# for bytes that never arrive; -max_len: a sequence of up to a few hundred operations.
	$CARGO fuzz run "$target" "corpus/$target" -- \
		-max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
		2>&1 | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|thread|SUMMARY|Failing input|.*panicked)' || true
	[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: $target crashed (input in fuzz/artifacts/$target/)"; exit 1; }
	echo "fuzz: $target clean for $seconds s"
done
echo "fuzz: every target clean ($((SECONDS - start)) s)"
