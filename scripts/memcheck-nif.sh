#!/usr/bin/env bash
# The EUnit suites of the NIF (or the modules named) in a VM whose NIF is built with
# AddressSanitizer + LeakSanitizer, the sanitizer's runtime preloaded into the BEAM. Used by
# `make memcheck-nif` / `make memcheck-nif-full`; docs/reliability.md says why this and not
# Valgrind (Debian's OTP 25 has only the JIT emulator, which Valgrind cannot check).
#
#   usage: scripts/memcheck-nif.sh MODULE...   (EUnit modules of nif/test; compiled into
#          nif/test/ebin and the Erlang application into nif/ebin first, by the make target)
#
#   CARGO         the nightly cargo (default `cargo +nightly`); missing: one line, success
#   TARGET        the target triple (an explicit --target, as scripts/sanitize.sh)
#   PYTHON        the CPython the NIF embeds (default python3, as `make test-nif`)
#   ASAN_RUNTIME  the shared ASan runtime to preload (default gcc's libasan.so, Debian's
#                 libasan8); missing: one line, success
#
# The NIF (with `test-hooks`, as `make test-nif`) goes to target/asan-nif and is laid out as an
# application there (ebin: nif/ebin's modules; priv: the instrumented library and the Python
# package), so nif/priv is never replaced. Every process of the run logs its reports into a
# directory of the run; scripts/asan_nif_report.py judges them: any memory error fails the
# run, and so does a leak allocated by our NIF's code (ERTS and CPython leak at exit).
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: memcheck-nif.sh MODULE..." >&2; exit 2; }
CARGO=${CARGO:-cargo +nightly}
PYTHON=${PYTHON:-python3}
TARGET=${TARGET:-x86_64-unknown-linux-gnu}
dir=$PWD/target/asan-nif
if ! $CARGO --version >/dev/null 2>&1; then
	echo "memcheck-nif: skipped, '$CARGO' is not available"
	exit 0
fi
runtime=${ASAN_RUNTIME:-$(gcc -print-file-name=libasan.so 2>/dev/null || true)}
if [ ! -f "$runtime" ]; then
	echo "memcheck-nif: skipped, no shared ASan runtime (apt-get install libasan8)"
	exit 0
fi
start=$SECONDS
# Only the NIF instrumented (the explicit --target keeps build scripts and proc macros out);
# line tables so a report names our file and line; frame pointers for the leak stacks (below).
RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes" PYO3_PYTHON="$(command -v "$PYTHON")" \
	CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
	$CARGO build -q --release -p py-buffer-nif --features test-hooks \
	--target "$TARGET" --target-dir "$dir"
app=$dir/app
rm -rf "$app" && mkdir -p "$app/ebin" "$app/priv/python/py_buffer"
cp nif/ebin/*.beam nif/ebin/*.app "$app/ebin/"
cp "$dir/$TARGET/release/libpy_buffer_nif.so" "$app/priv/py_buffer_nif.so"
cp python/py_buffer/*.py "$app/priv/python/py_buffer/"
logs=$(mktemp -d)
# Modules that read erlang:memory/0,1 (found in their source), which answers `notsup` under
# `+Mea min`: they run in a second VM with ERTS's own allocators (there ASan sees our accesses
# to malloc'd memory, Rust's and Python's, but not to Erlang binaries inside ERTS's carriers).
with_min=() with_erts=()
for module in "$@"; do
	if grep -q 'erlang:memory' "nif/test/$module.erl"; then
		with_erts+=("$module")
	else
		with_min+=("$module")
	fi
done
# detect_leaks: LeakSanitizer at each process's exit. intercept_tls_get_addr=0: with it,
# gcc 12's LeakSanitizer reads a bogus dynamic-TLS range of a thread the embedded interpreter
# starts and crashes ("Tracer caught signal 11"). exitcode=0: ERTS leaks at every exit, so
# the logs are judged instead (asan_nif_report.py). {%m}: each frame names its library, for
# that judgement; the NIF keeps frame pointers, so the fast unwinder attributes a leak to our
# code (DWARF unwinding of every malloc made the VM's start 6 times slower).
# PYTHONMALLOC=malloc: Python objects come from malloc, which ASan guards; +Mea min: so do
# ERTS's (heaps, binaries, resources), and LeakSanitizer sees the pointers they hold.
status=0
run_vm() { # NAME ERL_FLAGS MODULE...
	local name=$1 flags=$2
	shift 2
	local modules rc=0
	modules=$(IFS=,; echo "$*")
	LD_PRELOAD="$runtime" PYTHONMALLOC=malloc \
		ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:intercept_tls_get_addr=0:exitcode=0:log_path=$logs/asan:stack_trace_format='    #%n %p %F %L {%m}'" \
		erl $flags -noshell -pa "$app/ebin" nif/test/ebin -eval \
		"case eunit:test([$modules], [verbose]) of ok -> halt(0); _ -> halt(1) end." \
		>"$logs/$name.out" 2>&1 || rc=$?
	# EUnit's summary; on a failure, the failures too.
	local summary='^  (All [0-9]+ tests|Test) passed'
	if [ "$rc" -eq 0 ] && grep -qE "$summary" "$logs/$name.out"; then
		echo "memcheck-nif ($name): $(grep -E "$summary" "$logs/$name.out" | sed 's/^ *//')"
	else
		tail -n 80 "$logs/$name.out"
		status=1
	fi
}
[ "${#with_min[@]}" -eq 0 ] || run_vm malloc "+Mea min" "${with_min[@]}"
[ "${#with_erts[@]}" -eq 0 ] || run_vm erts-allocators "" "${with_erts[@]}"
python3 scripts/asan_nif_report.py "$logs" || status=1
if [ "$status" -ne 0 ]; then
	echo "memcheck-nif: failed; EUnit's output and the sanitizer's logs: $logs"
	exit 1
fi
rm -rf "$logs"
echo "memcheck-nif: clean in $((SECONDS - start)) s ($*)"
