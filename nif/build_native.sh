#!/bin/sh
# Builds the native part of the application `py_buffer' into nif/priv, for `make build-nif'
# and for rebar3 (the compile pre_hook in nif/rebar.config):
#
#   priv/py_buffer_nif.so       the NIF library (cargo build --release -p py-buffer-nif)
#   priv/python/py_buffer/*.py  the pure-Python package the embedded interpreter imports
#                               (its classes come from the NIF itself: no _native*.so)
#
# Needs the whole repository (the cargo workspace is its root) and cargo on PATH.
# $PY_BUFFER_NIF_FEATURES: cargo features to build with (`test-hooks' for the EUnit suite
# and the benchmarks). The library comes from $CARGO_TARGET_DIR when set, else target/.
set -eu
nif=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$nif")
cd "$root"
if [ -n "${PY_BUFFER_NIF_FEATURES:-}" ]; then
    ${CARGO:-cargo} build --release -p py-buffer-nif --features "$PY_BUFFER_NIF_FEATURES"
else
    ${CARGO:-cargo} build --release -p py-buffer-nif
fi
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$nif/priv"
# Copied then renamed: a VM that has the old library loaded keeps its (unlinked) file.
cp "$target/release/libpy_buffer_nif.so" "$nif/priv/py_buffer_nif.so.tmp"
mv -f "$nif/priv/py_buffer_nif.so.tmp" "$nif/priv/py_buffer_nif.so"
rm -rf "$nif/priv/python"
mkdir -p "$nif/priv/python/py_buffer"
cp "$root"/python/py_buffer/*.py "$nif/priv/python/py_buffer/"
