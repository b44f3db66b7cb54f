#!/usr/bin/env bash
# The Rust suites under a sanitizer (nightly): `address` (ASan + LeakSanitizer) or `thread`
# (ThreadSanitizer). Used by `make sanitize` / `make tsan`; docs/reliability.md has the results.
#
#   CARGO   the nightly cargo (default `cargo +nightly`); missing: one line, success
#   TARGET  the target triple (sanitizers need an explicit --target, so build scripts and
#           proc macros stay uninstrumented)
set -euo pipefail
kind=${1:?usage: sanitize.sh address|thread}
CARGO=${CARGO:-cargo +nightly}
TARGET=${TARGET:-x86_64-unknown-linux-gnu}
if ! $CARGO --version >/dev/null 2>&1; then
	echo "sanitize ($kind): skipped, '$CARGO' is not available"
	exit 0
fi
start=$SECONDS
case $kind in
address)
	export RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address"
	# Leak checking is on by default on x86_64 Linux; say so, and fail on the first report.
	export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1"
	export LSAN_OPTIONS="report_objects=1"
	dir=target/asan
	# Unit, integration (tests/ included), doc tests, and the examples built; then the example
	# run end to end.
	$CARGO test -q -p py-buffer-core -p py-buffer-sync -p py-buffer \
		--target "$TARGET" --target-dir "$dir"
	$CARGO run -q -p py-buffer --example stream_demo --target "$TARGET" --target-dir "$dir" >/dev/null
	;;
thread)
	# std must be instrumented too (-Zbuild-std, which needs rust-src): an uninstrumented std
	# hides the synchronisation inside thread spawn/join and its locks from TSan, which then
	# reports races that cannot happen (docs/reliability.md). No suppressions are used.
	sysroot=$(rustc +nightly --print sysroot 2>/dev/null || true)
	if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
		echo "sanitize (thread): skipped, needs rust-src (rustup component add rust-src --toolchain nightly)"
		exit 0
	fi
	export RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread"
	export TSAN_OPTIONS="halt_on_error=1"
	dir=target/tsan
	# The threaded tests: the stress tests, the wake-ups of the last reader's drop and of
	# reads beyond the bound, observers called on other threads, the blocking facade.
	$CARGO test -q -Zbuild-std -p py-buffer-core --test stress --test reader_drop \
		--test beyond_bound --test observer --target "$TARGET" --target-dir "$dir"
	$CARGO test -q -Zbuild-std -p py-buffer-sync --tests --target "$TARGET" --target-dir "$dir"
	;;
*)
	echo "sanitize.sh: unknown sanitizer '$kind'" >&2
	exit 2
	;;
esac
echo "sanitize ($kind): clean in $((SECONDS - start)) s"
