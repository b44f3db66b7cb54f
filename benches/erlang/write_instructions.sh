#!/bin/sh
# Instructions per `py_buffer:write/2' call, counted by callgrind (repeatable, unlike wall
# time on a loaded machine): the whole call (the BEAM's JIT-compiled loop, the NIF call and
# everything inside it) and the part inside the write NIF (`raw_write_nif', inclusive).
#
#   benches/erlang/write_instructions.sh [EBIN] [SIZE ...]
#
# EBIN: an ebin of ours (with its priv/ beside it), default nif/ebin; SIZE: bytes per
# write, default 1 64 1024. Each size: one VM (`+S 1'), 9 rounds of 2000 writes, each round
# into its own buffer pre-sized to its bytes (benches/erlang/write_instructions.erl). The
# count spans exactly the loop: zeroed when `erlang:crc32/1' calls zlib's `crc32', dumped
# when `erlang:crc32_combine/3' calls zlib's `crc32_combine' (C-to-C calls, which callgrind
# always sees; a BIF entered from JIT code was missed one run in two), per thread (the
# writing scheduler's; schedulers do not busy-wait, `+sbwt none', so idle threads add
# nothing). Repeatable to a few instructions per call. KEEP_CALLGRIND=1 keeps the dumps:
# `python3 benches/erlang/callgrind_self.py DUMP 18000' lists each function's own cost per
# call. Needs valgrind (`--smc-check=all': the BEAM's JIT writes its own code).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$(dirname "$here")")
ebin=$(cd "${1:-$root/nif/ebin}" && pwd)
[ $# -gt 0 ] && shift
sizes=${*:-1 64 1024}
rounds=9
writes=2000
erts=$(erl -noshell -eval 'io:format("~s/erts-~s", [code:root_dir(), erlang:system_info(version)]), halt().')
work=$(mktemp -d)
trap '[ -n "${KEEP_CALLGRIND:-}" ] || rm -rf "$work"' EXIT
erlc -o "$work" "$here/write_instructions.erl"
# erlexec directly (what `erl' runs), so only the VM itself runs under valgrind.
export BINDIR="$erts/bin" ROOTDIR="$(dirname "$erts")" EMU=beam PROGNAME=erl
for size in $sizes; do
    rm -f "$work"/cg.*
    valgrind --tool=callgrind --trace-children=yes --smc-check=all \
        --trace-children-skip='*erl_child_setup,*inet_gethost' \
        --zero-before=crc32 --dump-before=crc32_combine --separate-threads=yes \
        --callgrind-out-file="$work/cg.%p" \
        "$BINDIR/erlexec" +S 1 +SDcpu 1 +SDio 1 +sbwt none +sbwtdcpu none +sbwtdio none \
        -noshell -pa "$work" -pa "$ebin" \
        -run write_instructions main "$size" "$writes" "$rounds" >"$work/log" 2>&1 || {
        cat "$work/log" >&2
        exit 1
    }
    # The dump taken at crc32_combine (part 1: the writing scheduler's thread).
    dumps=$(ls "$work"/cg.*.1-* 2>/dev/null || true)
    [ -n "$dumps" ] || { echo "no callgrind dump (see valgrind's output)" >&2; cat "$work/log" >&2; exit 1; }
    total=0
    inside=0
    for dump in $dumps; do
        t=$(grep -a '^summary:' "$dump" | awk '{print $2}')
        i=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null |
            awk '/raw_write_nif/ { gsub(",", "", $1); print $1; exit }')
        total=$((total + ${t:-0}))
        inside=$((inside + ${i:-0}))
        [ -z "${KEEP_CALLGRIND:-}" ] || echo "kept: $dump" >&2
    done
    calls=$((rounds * writes))
    echo "size $size: $((total / calls)) instructions per write/2 call, $((inside / calls)) inside the write NIF"
done
