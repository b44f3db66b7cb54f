"""Judges the AddressSanitizer logs of a `make memcheck-nif` run (scripts/memcheck-nif.sh).

Every process of the run (the VM under test, the VMs and shells its tests start) writes its
reports to LOG_DIR/asan.PID (ASAN_OPTIONS log_path). The run fails when

- any log has a memory-error report (``ERROR: AddressSanitizer``: overflows, use after free,
  double free, ...), wherever it is: the only instrumented code is our NIF, so an error is
  either in our code or found by an interceptor (memcpy, strlen, free) called on our behalf;
- any direct leak was allocated by our NIF's own code: the first frame below the sanitizer's
  allocator (its malloc, calloc, realloc) lies in ``py_buffer_nif.so`` (our crates, and the
  Rust std, pyo3 and rustler code linked into it).
  ERTS and CPython leak at exit by design (ERTS frees nothing at ``halt/0``, the embedded
  interpreter is finalised only when the application stops), so leaks allocated inside
  ``beam.smp`` or ``libpython`` are counted, not judged. An object that CPython allocated for us and that we never
  released is attributed to libpython and missed (as in scripts/memcheck_leaks.py).

ALLOWED lists the leaks of ours that are known and harmless, each with its reason.

Usage: python3 scripts/asan_nif_report.py LOG_DIR
"""

import pathlib
import re
import sys

OUR_MODULE = "py_buffer_nif.so"
# Each frame ends with its library in braces (stack_trace_format in scripts/memcheck-nif.sh).
FRAME = re.compile(r"^\s+#\d+ .*\{(?P<module>[^}]*)\}\s*$")
RUNTIME = re.compile(r"libasan|libclang_rt\.asan")

# (pattern in the record, reason)
ALLOWED = [
    (
        "create_type_object",
        "pyo3 0.30 leaks each #[pyclass]'s member table when it creates the type (the "
        "boxed slice handed to CPython is never taken back): 80 bytes per class, once per "
        "process (as in scripts/memcheck_leaks.py)",
    ),
]


def records(text: str) -> list[str]:
    """The leak records of one log ("Direct leak of ..." and its stack)."""
    blocks = re.split(r"\n\s*\n", text)
    return [b for b in blocks if b.lstrip().startswith("Direct leak of")]


def allocated_by_us(record: str) -> bool:
    """True when the first frame below the sanitizer's allocator is in our NIF."""
    for line in record.splitlines():
        frame = FRAME.match(line)
        if frame is None or RUNTIME.search(frame["module"]):
            continue
        return frame["module"].endswith(OUR_MODULE)
    return False


def main() -> int:
    logs = sorted(pathlib.Path(sys.argv[1]).glob("asan.*"))
    errors = []
    ours = []
    leaks = allowed = 0
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "ERROR: AddressSanitizer" in text:
            errors.append((log, text))
        for record in records(text):
            leaks += 1
            if not allocated_by_us(record):
                continue
            if any(pattern in record for pattern, _ in ALLOWED):
                allowed += 1
                continue
            ours.append((log, record))
    for log, text in errors:
        print(f"--- {log}\n{text}", file=sys.stderr)
    for log, record in ours:
        print(f"--- {log}\n{record}", file=sys.stderr)
    print(
        f"asan: {len(logs)} process logs, {len(errors)} with memory errors; {leaks} direct-leak "
        f"records, {len(ours)} allocated by our NIF, {allowed} allowed "
        "(see scripts/asan_nif_report.py)"
    )
    return 1 if errors or ours else 0


if __name__ == "__main__":
    sys.exit(main())
