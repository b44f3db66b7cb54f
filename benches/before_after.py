"""Every benchmark set run for an older commit and for this tree, alternating, side by side.

    make bench-before-after BEFORE=71cc7cd [SETS="rust python"] [RUNS=N] [LOCK=/tmp/bench.lock]
    python3 benches/before_after.py --before 71cc7cd [--set rust ...] [--runs N] [--lock FILE]

Why: a change must keep every row that was already won, and one run of one build says
nothing on a shared 2-core machine (absolute figures swing by 2x with the load). So BEFORE is
checked out beside this tree (`git worktree add --detach` under target/, its own target dir
and its own Python venv for its extension, built as `make build-python` does), both are
built, then each set runs for both builds in turn, the order flipping every round (before,
after, after, before, ...) so neither always runs first, several rounds each. Each set prints
one markdown table: row, before and after (medians of the runs), after/before oriented so
that > 1 is better, verdict, and both min-max ranges. The baselines each set measures in the
same process (memcpy, os.pipe, io.BytesIO, `binary:copy/1`, ...) are rows too: their code is
the same before and after, so their ratio is the run's noise, the yardstick for ours.

The sets (the commands docs/benchmarks.md names, in their short modes):
  rust     cargo bench -p py-buffer --bench streaming (criterion's estimates.json, median)
  python   benches/python/run.py --quick (its --json rows)
  asyncio  benches/python/bench_asyncio.py --quick, default loop and uvloop (--json rows)
  nif      benches/erlang/write_bench.escript quick (its markdown tables)
  py       benches/erlang/py_bench.escript quick (its markdown tables)
  serve    benches/erlang/serve_bench.escript quick (its markdown tables)
The Python harnesses of this tree run against both builds' extensions (their API is the
same); the escripts are each tree's own (each loads its tree's nif/ebin). A set whose script
does not exist in BEFORE is skipped with a note (the seed harness, seed_compare.escript, has
its own BEFORE_DIR mode and needs the seed's build: `make bench-seed`).

--lock FILE runs every single benchmark execution under `flock FILE` (one execution is at
most about two minutes), so other users of the machine's benchmark lock interleave.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
NIF_FEATURES = "test-hooks"  # write_bench needs the test-only NIFs; they add NIFs, not cost
CRITERION_ARGS = ["--warm-up-time", "1", "--measurement-time", "2", "--sample-size", "10"]

# Units a figure may carry, as a factor to one base unit, and whether higher is better.
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
RATE_UNITS = {"GB/s": 1e9, "MB/s": 1e6, "M lines/s": 1e6}
PER_LINE = {"ns/line": 1e-9}
NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns/line|M lines/s|GB/s|MB/s|ns|us|µs|ms|s)\b")


@dataclass
class Tree:
    """One build: its source tree, the venv its extension is installed in."""

    name: str
    root: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@dataclass
class Figure:
    """One row's value: seconds (lower is better) or a rate (higher is better)."""

    value: float
    higher_is_better: bool


def parse_figure(text: str) -> Optional[Figure]:
    """'17.0 ns (3.75 GB/s)' -> 1.7e-08 s; '23.5 GB/s (21-25)' -> 2.35e10 B/s; None if unitless."""
    m = NUMBER_UNIT.match(text.replace("`", ""))
    if not m:
        return None
    number, unit = float(m.group(1)), m.group(2)
    if unit in RATE_UNITS:
        return Figure(number * RATE_UNITS[unit], True)
    if unit in PER_LINE:
        return Figure(number * PER_LINE[unit], False)
    return Figure(number * TIME_UNITS[unit], False)


def unit_of(value: float, higher_is_better: bool) -> str:
    if higher_is_better:
        return f"{value / 1e9:.3g} GB/s"
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


# --- reading each set's output ------------------------------------------------------------


def rows_from_python_json(path: Path) -> Dict[str, Figure]:
    """run.py / bench_asyncio.py --json: our figure once per figure, each baseline once."""
    out: Dict[str, Figure] = {}
    for table in json.loads(path.read_text()):
        prefix = f"{table['table']}: " if table["table"] else ""
        seen_baselines = set()
        names = [row[2] for row in table["rows"]]
        for figure, ours, base_name, base, *_ in table["rows"]:
            base_label = f"(baseline) {base_name}" + (f", {figure}" if names.count(base_name) > 1 else "")
            # One baseline run serves several figures (bounded and default mode): shown once,
            # under the first figure it serves (the rows' order is fixed, so the label is too).
            duplicate = (base_name, base) in seen_baselines
            seen_baselines.add((base_name, base))
            for label, text in ((f"{prefix}{figure}", ours), (f"{prefix}{base_label}", None if duplicate else base)):
                fig = parse_figure(str(text)) if text is not None else None
                if fig is not None:
                    out.setdefault(label, fig)
    return out


def rows_from_markdown(text: str) -> Dict[str, Figure]:
    """Every markdown table in an escript's output: one row per (first cell, column) whose cell
    is a time or a rate. `max` columns are left out (one outlier each, pure noise)."""
    out: Dict[str, Figure] = {}
    header: List[str] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set("-: "):
            continue
        if not header:
            header = cells
            continue
        for column, cell in zip(header[1:], cells[1:]):
            fig = parse_figure(cell)
            if fig is None or column.startswith("max"):
                continue
            name = cells[0].replace("`", "")
            label = f"{name} — {column.replace('`', '')}" if column else name
            out.setdefault(label, fig)
    return out


def rows_from_criterion(target: Path) -> Dict[str, Figure]:
    """criterion's median estimate of each benchmark of the last run (target/criterion/<id>/new)."""
    out: Dict[str, Figure] = {}
    base = target / "criterion"
    for est in sorted(base.glob("**/new/estimates.json")):
        bench_id = str(est.parent.parent.relative_to(base))
        median_ns = json.loads(est.read_text())["median"]["point_estimate"]
        out[bench_id] = Figure(median_ns * 1e-9, False)
    return out


# --- the sets --------------------------------------------------------------------------------


@dataclass
class BenchSet:
    """A benchmark set: the script that must exist in a tree, and how one run is made and read."""

    name: str
    script: str
    run: Callable[[Tree, Callable[[List[str], Path], str]], Dict[str, Figure]]
    # Runs per build: as many as fit the set's time (a quick Python or Erlang -> Python run
    # takes 2-4 s, write_bench 25 s, criterion 90 s); a whole default run is about 20 minutes.
    runs: int = 3
    note: str = ""


def run_rust(tree: Tree, execute: Callable[[List[str], Path], str]) -> Dict[str, Figure]:
    target = tree.root / "target"
    for old in (target / "criterion").glob("**/new/estimates.json"):
        old.unlink()
    execute(["cargo", "bench", "-p", "py-buffer", "--bench", "streaming", "--", *CRITERION_ARGS], tree.root)
    return rows_from_criterion(target)


def python_harness(script: str, extra: Sequence[str]) -> Callable[[Tree, Callable[[List[str], Path], str]], Dict[str, Figure]]:
    def run(tree: Tree, execute: Callable[[List[str], Path], str]) -> Dict[str, Figure]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            # This tree's harness against the tree's extension: the same measurement for both.
            execute([str(tree.python), str(ROOT / script), "--quick", *extra, "--json", str(out)], ROOT)
            return rows_from_python_json(out)

    return run


def escript(script: str) -> Callable[[Tree, Callable[[List[str], Path], str]], Dict[str, Figure]]:
    def run(tree: Tree, execute: Callable[[List[str], Path], str]) -> Dict[str, Figure]:
        return rows_from_markdown(execute(["escript", str(tree.root / script), "quick"], tree.root))

    return run


SETS = [
    BenchSet("rust", "benches/streaming.rs", run_rust, runs=3),
    BenchSet("python", "benches/python/run.py", python_harness("benches/python/run.py", []), runs=9),
    BenchSet("asyncio", "benches/python/bench_asyncio.py", python_harness("benches/python/bench_asyncio.py", []), runs=9),
    BenchSet("nif", "benches/erlang/write_bench.escript", escript("benches/erlang/write_bench.escript"), runs=5),
    BenchSet("py", "benches/erlang/py_bench.escript", escript("benches/erlang/py_bench.escript"), runs=9),
    BenchSet("serve", "benches/erlang/serve_bench.escript", escript("benches/erlang/serve_bench.escript"), runs=9),
    BenchSet("seed", "benches/erlang/seed_compare.escript", lambda tree, execute: {},
             note="ours against the seed's C build: `make bench-seed SEED_DIR=... ` (its own BEFORE_DIR mode)"),
]


# --- building ------------------------------------------------------------------------------


def sh(cmd: List[str], cwd: Path, capture: bool = False) -> str:
    print(f"$ (cd {cwd} && {' '.join(cmd)})", file=sys.stderr, flush=True)
    # Builds print to stderr: stdout is the tables only.
    done = subprocess.run(cmd, cwd=cwd, check=True, text=True, stdout=subprocess.PIPE if capture else sys.stderr)
    return done.stdout if capture else ""


def checkout_before(commit: str) -> Path:
    """BEFORE as a detached worktree under target/ (reused when it is already at that commit)."""
    sha = sh(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], ROOT, capture=True).strip()
    path = ROOT / "target" / f"before-{sha[:7]}"
    if not path.exists():
        sh(["git", "worktree", "add", "--detach", str(path), sha], ROOT)
    head = sh(["git", "rev-parse", "HEAD"], path, capture=True).strip()
    if head != sha:
        raise SystemExit(f"{path} is at {head}, not {sha}: remove it (git worktree remove) and rerun")
    return path


def build(tree: Tree, sets: Sequence[BenchSet]) -> None:
    """What the chosen sets need, as the Makefile builds it, in the tree's own target dir."""
    names = {s.name for s in sets}
    if names & {"nif", "py", "serve"}:
        sh(["make", "build-nif", f"NIF_FEATURES={NIF_FEATURES}"], tree.root)
    if "rust" in names:
        sh(["cargo", "bench", "--no-run", "-p", "py-buffer", "--bench", "streaming"], tree.root)
    if names & {"python", "asyncio"}:
        if not tree.python.exists():
            sh([sys.executable, "-m", "venv", "--system-site-packages", str(tree.venv)], tree.root)
        sh([str(tree.python), "-m", "pip", "install", "--quiet", "--no-build-isolation", "--force-reinstall", "--no-deps", "./python"], tree.root)
        where = sh([str(tree.python), "-c", "import py_buffer; print(py_buffer.__file__)"], Path("/"), capture=True).strip()
        if not where.startswith(str(tree.venv)):
            raise SystemExit(f"{tree.name}: py_buffer comes from {where}, not from {tree.venv}")


# --- running and reporting -----------------------------------------------------------------


@dataclass
class Results:
    runs: Dict[str, List[Dict[str, Figure]]] = field(default_factory=lambda: {"before": [], "after": []})


def executor(lock: Optional[Path], log: Path) -> Callable[[List[str], Path], str]:
    def execute(cmd: List[str], cwd: Path) -> str:
        full = (["flock", str(lock)] if lock else []) + cmd
        t0 = time.monotonic()
        done = subprocess.run(full, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with log.open("a") as f:
            f.write(f"\n$ (cd {cwd} && {' '.join(full)})\n{done.stdout}")
        if done.returncode != 0:
            raise SystemExit(f"failed ({done.returncode}): {' '.join(full)}; output in {log}")
        print(f"    {time.monotonic() - t0:.0f} s, load average {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        return done.stdout

    return execute


def order(rounds: int) -> List[str]:
    """before, after, after, before, before, after, ...: neither side always runs first."""
    sides: List[str] = []
    for i in range(rounds):
        sides += ["before", "after"] if i % 2 == 0 else ["after", "before"]
    return sides


def verdict(ratio: float, before: Sequence[float], after: Sequence[float], higher: bool) -> str:
    """faster / slower when the two sides' ranges do not overlap, else kept; "slower by noise"
    when the median is worse but the ranges overlap."""
    if min(len(before), len(after)) < 2:
        return "no verdict (one run)"  # a range of one value says nothing about the spread
    lo_b, hi_b, lo_a, hi_a = min(before), max(before), min(after), max(after)
    better = lo_a > hi_b if higher else hi_a < lo_b
    worse = hi_a < lo_b if higher else lo_a > hi_b
    if better:
        return "**faster**"
    if worse:
        return "**slower**"
    return "kept" if ratio >= 1.0 else "slower by noise"


def table(results: Results) -> List[str]:
    labels: List[str] = []
    for side in ("before", "after"):
        for run in results.runs[side]:
            labels += [label for label in run if label not in labels]
    lines = ["| row | before | after | after vs before (> 1 better) | verdict | before, min-max | after, min-max |",
             "|---|---|---|---|---|---|---|"]
    for label in labels:
        values = {side: [run[label].value for run in results.runs[side] if label in run] for side in ("before", "after")}
        higher = next(run[label].higher_is_better for side in ("before", "after") for run in results.runs[side] if label in run)
        if not values["before"] or not values["after"]:
            only = "before" if values["before"] else "after"
            lines.append(f"| {label} | {'-' if only == 'after' else unit_of(statistics.median(values[only]), higher)} | "
                         f"{'-' if only == 'before' else unit_of(statistics.median(values[only]), higher)} | | only {only} | | |")
            continue
        b, a = statistics.median(values["before"]), statistics.median(values["after"])
        ratio = a / b if higher else b / a
        span = {s: f"{unit_of(min(v), higher)} - {unit_of(max(v), higher)}" for s, v in values.items()}
        lines.append(f"| {label} | {unit_of(b, higher)} | {unit_of(a, higher)} | {ratio:.2f}x | "
                     f"{verdict(ratio, values['before'], values['after'], higher)} | {span['before']} | {span['after']} |")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the commit to compare against (e.g. 71cc7cd)")
    parser.add_argument("--set", action="append", choices=[s.name for s in SETS], help="a set to run (default: all)")
    parser.add_argument("--runs", type=int, help="runs of each set per build (default: the set's own, 3-9)")
    parser.add_argument("--lock", type=Path, help="run every benchmark execution under `flock LOCK`")
    parser.add_argument("--no-build", action="store_true", help="use the builds already there")
    opts = parser.parse_args(argv)
    chosen = [s for s in SETS if s.name in (opts.set or [s.name for s in SETS])]
    before_root = checkout_before(opts.before)
    trees = {"before": Tree("before", before_root, ROOT / "target" / f"venv-{before_root.name}"),
             "after": Tree("after", ROOT, ROOT / "target" / "venv-after")}
    runnable, skipped = [], []
    for s in chosen:
        missing = [name for name, t in trees.items() if not (t.root / s.script).exists()]
        if missing or s.note:
            why = f"{s.script} is not in {' and '.join(missing)}" if missing else ""
            skipped.append(f"- **{s.name}**: skipped; {'; '.join(x for x in (why, s.note) if x)}.")
        else:
            runnable.append(s)
    if not opts.no_build:
        for t in trees.values():
            build(t, runnable)
    log = ROOT / "target" / "before_after.log"
    execute = executor(opts.lock, log)
    before_sha = sh(["git", "rev-parse", "--short", "HEAD"], before_root, capture=True).strip()
    after_sha = sh(["git", "rev-parse", "--short", "HEAD"], ROOT, capture=True).strip()
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"], ROOT, capture=True).strip()
    print(f"# Before {before_sha} / after {after_sha}{' (with uncommitted changes)' if dirty else ''}, "
          f"alternating; outputs in {log}\n")
    for s in runnable:
        results = Results()
        loads = []
        runs = opts.runs or s.runs
        for side in order(runs):
            print(f"{s.name}: {side}", file=sys.stderr, flush=True)
            loads.append(os.getloadavg()[0])
            results.runs[side].append(s.run(trees[side], execute))
        loads.append(os.getloadavg()[0])
        print(f"## {s.name}\n\n{runs} run{'s' if runs > 1 else ''} each. Load average (1 min) at each run's start: {min(loads):.1f}-{max(loads):.1f}.\n")
        print("\n".join(table(results)) + "\n", flush=True)
    if skipped:
        print("\n".join(skipped))


if __name__ == "__main__":
    main()
