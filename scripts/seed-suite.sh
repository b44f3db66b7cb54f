#!/usr/bin/env bash
# Runs the seed's own Common Test suite for buffers (test/py_buffer_SUITE.erl of
# benoitc/erlang-python, a checkout outside this repo) against our build, and checks that
# exactly the cases our contract departs from fail (docs/decisions.md, "The seed's test
# helper"). The suite is copied into a temporary directory, never into the repo; two lines
# of it change: `init_per_suite' starts the `py_buffer' application instead of
# `erlang_python', and skips `py:start_contexts()', which we do not have.
#
#   make test-seed-suite SEED_SRC=/path/to/erlang-python     (builds the NIF first)
#
# `write_read_test' is not run: it calls `read()' on a buffer that is never closed, which
# here waits for EOF (the seed returned what was there). `buffer_grow_pinned_test' must fail
# with `{error, {overflow, 8, 1002}}': a write past the content length is refused here.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${SEED_SRC:?SEED_SRC=DIR: DIR is a checkout of benoitc/erlang-python}"
suite="$src/test/py_buffer_SUITE.erl"
[ -f "$suite" ] || { echo "seed-suite: no $suite" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed -e 's/application:ensure_all_started(erlang_python)/application:ensure_all_started(py_buffer)/' \
    -e 's/application:stop(erlang_python)/application:stop(py_buffer)/' \
    -e 's/{ok, _} = py:start_contexts(),/ok,/' "$suite" > "$work/py_buffer_SUITE.erl"
# Every case of all() except the one that waits for an EOF that never comes.
cases=$(sed -n '/^all() -> \[/,/^\]\./p' "$work/py_buffer_SUITE.erl" | grep -o '[a-z_]*_test' \
        | grep -vx write_read_test)
mkdir -p "$work/logs"
timeout 600 ct_run -noshell -pa "$PWD/nif/ebin" -dir "$work" -logdir "$work/logs" \
    -suite py_buffer_SUITE -case $cases > "$work/ct.out" 2>&1 || true
log=$(find "$work/logs" -name suite.log | head -n 1)
[ -n "$log" ] || { cat "$work/ct.out" >&2; echo "seed-suite: the suite did not run" >&2; exit 1; }
# Each `=case' line is followed, a few lines on, by its `=result'.
results=$(awk '/^=case/ {c = $2; sub(/^py_buffer_SUITE:/, "", c)} /^=result/ {print c, $2}' "$log" \
          | grep -v '_per_suite ')
failed=$(echo "$results" | awk '$2 != "ok" {print $1}')
passed=$(echo "$results" | awk '$2 == "ok"' | wc -l)
echo "seed suite: $passed of $(echo "$results" | wc -l) cases passed; failed: ${failed:-none}"
if [ "$failed" != "buffer_grow_pinned_test" ] || ! grep -q 'overflow,8,1002' "$log"; then
    echo "seed-suite: expected exactly buffer_grow_pinned_test to fail, on the overflow" >&2
    exit 1
fi
echo "seed suite: as expected (write_read_test not run; buffer_grow_pinned_test: overflow)"
