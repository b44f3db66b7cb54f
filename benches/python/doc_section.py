"""Writing benchmark results into docs/benchmarks.md, shared by the Python harnesses.

Each harness owns one `## <heading>` section of the file and rewrites only that section, so
the harnesses (and the Rust and Erlang benchmarks) can update the file independently.
`write_rows_json` writes the same rows as JSON for `benches/before_after.py` (`--json`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, List, Sequence, Tuple

TABLE_HEADER = [
    "| figure | ours | baseline | baseline figure | ratio | target | |",
    "|---|---|---|---|---|---|---|",
]


def table_lines(rows: Iterable[Sequence[object]]) -> List[str]:
    """The result table: a header, then one line per (figure, ours, baseline name,
    baseline figure, ratio, target, verdict) row."""
    lines = list(TABLE_HEADER)
    for figure, ours, base_name, base, ratio, target, ok in rows:
        lines.append(f"| {figure} | {ours} | {base_name} | {base} | {ratio:.2f}x | {target} | {ok} |")
    return lines


def replace_section(doc: Path, heading: str, section: str) -> None:
    """Replaces the `## <heading>` section of `doc` with `section` (appends it if absent)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)
    print(f"updated {doc}")


def write_rows_json(path: Path, tables: Sequence[Tuple[str, Sequence[Sequence[object]]]]) -> None:
    """Writes `[{"table": name, "rows": [[figure, ours, baseline name, baseline figure, ratio,
    target, verdict], ...]}, ...]` to `path` (`name` is "" for a harness with one table)."""
    path.write_text(json.dumps([{"table": name, "rows": [list(row) for row in rows]} for name, rows in tables], indent=1) + "\n")
