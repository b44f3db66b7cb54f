"""Fails when a valgrind log has a definite leak allocated through our extension.

CPython 3.12 and 3.13 never free their immortal interned strings (and a few other objects) at
exit: a bare interpreter that imports asyncio reports about 1,000 definite-leak records. So
leaks are not counted by valgrind's exit code (``--errors-for-leak-kinds=none``); instead each
"definitely lost" record whose allocation stack passes through py_buffer's extension module
(``py_buffer/_native*.so``, or a ``py_buffer_python`` / ``py_buffer_core`` symbol) is ours
and fails the run, unless it is one of ALLOWED below, each with its reason.

Usage: python3 scripts/memcheck_leaks.py VALGRIND_LOG
"""

import re
import sys

OURS = re.compile(r"_native[^ ]*\.so|py_buffer_python|py_buffer_core")

# (pattern in the record, reason)
ALLOWED = [
    (
        "create_type_object",
        "pyo3 0.30 leaks each #[pyclass]'s member/getset table when it creates the type "
        "(CPython >= 3.12 copies it into the type): 80 bytes per class, once per process",
    ),
]


def records(log: str) -> list[str]:
    """The leak records of the log, each as one block of lines."""
    blocks = re.split(r"\n==\d+== ?\n", log)
    return [b for b in blocks if "definitely lost in loss record" in b]


def main() -> int:
    log = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    ours = []
    allowed = 0
    every = records(log)
    for record in every:
        if not OURS.search(record):
            continue
        if any(pattern in record for pattern, _ in ALLOWED):
            allowed += 1
            continue
        ours.append(record)
    for record in ours:
        print(record, file=sys.stderr)
    print(
        f"memcheck leaks: {len(every)} definite-leak records, {len(ours)} through our "
        f"extension, {allowed} allowed (see scripts/memcheck_leaks.py)"
    )
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
