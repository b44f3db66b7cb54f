#!/usr/bin/env bash
# The Python suite (or the tests named) under Valgrind memcheck, with the extension built into
# a venv of its own. Used by `make memcheck` / `make memcheck-full`; docs/reliability.md.
#
#   VENV     the venv (created and filled from .ci/requirements.txt when missing)
#   PYTHON   the interpreter for a new venv; by default the first of python3.13,
#            python3.12, python3 on PATH, then pyenv's 3.13/3.12, that is 3.12 or newer.
#            CPython 3.11 is not used: its
#            `_PyLong_New` leaves the digit of a zero int uninitialised and memcheck reports
#            every use of that int (in the interpreter loop, anywhere), with or without our
#            module loaded (docs/reliability.md), which no narrow suppression can cover.
#
# Memory errors fail the run (valgrind exits 99): invalid reads/writes, uses of uninitialised
# values, invalid frees; scripts/valgrind-python.supp holds suppressions for errors proven
# not to be ours, each with its reason. Definite leaks allocated through our extension fail
# it too (scripts/memcheck_leaks.py: CPython itself leaks its interned strings at exit, so
# valgrind's leak count cannot be the criterion).
#
#   MEMCHECK_PYTEST_ARGS   extra pytest arguments (-k, --deselect)
set -euo pipefail
VENV=${VENV:-$PWD/target/memcheck-venv}
if ! command -v valgrind >/dev/null; then
	echo "memcheck: skipped, valgrind is not installed (apt-get install valgrind)"
	exit 0
fi
[ "$#" -gt 0 ] || set -- python/tests
if [ ! -x "$VENV/bin/python" ]; then
	if [ -z "${PYTHON:-}" ]; then
		pyenv_root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
		for candidate in python3.13 python3.12 python3 \
			$(ls -d "$pyenv_root"/versions/3.1[23].*/bin/python3 2>/dev/null | sort -V -r); do
			if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
				PYTHON=$candidate
				break
			fi
		done
	fi
	if [ -z "${PYTHON:-}" ]; then
		echo "memcheck: skipped, no CPython 3.12 or newer (3.11 reports its own uninitialised ints)"
		exit 0
	fi
	"$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
"$py" scripts/python_requirements.py .ci/requirements.txt
# Line tables in the extension, so a report names our file and line.
CARGO_TARGET_DIR="$PWD/target" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
	"$py" -m pip install -q --no-build-isolation --force-reinstall --no-deps ./python
start=$SECONDS
log=$(mktemp)
# PYTHONMALLOC=malloc: every object through malloc, so memcheck sees each one. No spinning
# before parking (valgrind runs one thread at a time). No pytest timeout: everything runs about
# 15 times slower.
status=0
# MEMCHECK_PYTEST_ARGS is shell words (it carries a quoted -k expression).
eval "extra=(${MEMCHECK_PYTEST_ARGS:-})"
PYTHONMALLOC=malloc PY_BUFFER_SPIN_US=0 valgrind --tool=memcheck --error-exitcode=99 \
	--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=none \
	--num-callers=50 --suppressions=scripts/valgrind-python.supp --log-file="$log" \
	"$py" -m pytest -q -p no:cacheprovider -o timeout=0 "${extra[@]}" "$@" \
	>"$log.pytest" 2>&1 || status=$?
# The summary; on a failure, the failures too.
tail -n "$([ "$status" -eq 0 ] && echo 2 || echo 80)" "$log.pytest"
grep -E 'ERROR SUMMARY' "$log" | sed 's/^==[0-9]*== /valgrind: /' || true
python3 scripts/memcheck_leaks.py "$log" || status=1
if [ "$status" -ne 0 ]; then
	echo "memcheck: failed (status $status); valgrind's log: $log"
	exit 1
fi
rm -f "$log" "$log.pytest"
echo "memcheck: clean in $((SECONDS - start)) s ($*)"
