# The Python package (python/): included by the root Makefile.
#
#   make build-python   build the extension (release) and install the package into $(PYTHON)
#   make test-python    build-python, then the pytest suite and the stub check, then the
#                       same on every other pyenv CPython 3.10-3.13 (scripts/test-pythons)

PYTHON ?= python3

.PHONY: build-python test-python

# --no-build-isolation: maturin comes from .ci/requirements.txt, so no download at build time.
build-python:
	$(PYTHON) -m pip install --no-build-isolation --force-reinstall --no-deps ./python

test-python: build-python
	$(PYTHON) -m pytest -q python/tests
	$(PYTHON) -m mypy.stubtest py_buffer._native
	PYTHON=$(PYTHON) bash scripts/test-pythons

BUILD_PARTS += build-python
TEST_PARTS += test-python
