"""Time every op row's ``fn`` (the eager pass's hot path) against an earlier version.

    python benchmarks/ops_bench.py                  # against commit a4cf289's hand-written fns
    python benchmarks/ops_bench.py --before REV     # against another commit
    python benchmarks/ops_bench.py --quick          # fewer repeats (seconds)
    python benchmarks/ops_bench.py --callgrind      # instructions per call instead

The rows of ``engine/ops.py`` are now compiled from formulas; before, each ``fn`` was
written by hand. This loads ``engine/ops.py`` as it was at ``REV`` (``git show``;
that module imports only the standard library) beside the current one and times both
in the same process, interleaved: for each row and each input set, ``fn(*args)`` is
called in a loop of ``N`` calls, ``repeat`` times in alternation, and the median
ns per call is reported. Inputs cover the common case (six points inside each row's
``domain``, where its tests draw from) and, in a second table, exceptional inputs
(poles, overflow, nan) where the compiled fast path falls back to its IEEE path.

Times drift with the machine's load by more than the 5% this compares; with
``--callgrind`` each row is instead counted in instructions (``valgrind
--tool=callgrind``) in a child process that loads only that version of ``ops.py``
(standard library only), at two loop counts, so start-up cancels out.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Where in each input's domain the ordinary inputs lie (fractions of the interval).
FRACTIONS = (0.07, 0.23, 0.38, 0.61, 0.77, 0.94)
#: Inputs where some ops leave their fast path (0, negative logs, overflow, nan).
SPECIAL = {
    1: [(0.0,), (-0.0,), (-2.0,), (1000.0,), (math.inf,), (math.nan,)],
    2: [(1.0, 0.0), (0.0, 0.0), (-8.0, 1 / 3), (10.0, 400.0), (-2.0, 3.0), (math.nan, 1.0)],
}


def source_at(rev: str) -> str:
    return subprocess.run(
        ["git", "show", f"{rev}:engine/ops.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def load(source: str, name: str) -> types.ModuleType:
    """``ops.py`` as a module of its own (it imports only the standard library)."""
    module = types.ModuleType(name)
    sys.modules[module.__name__] = module  # dataclasses look the module up
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def time_calls(fn, args_list, n: int) -> float:
    """ns per call of ``fn`` over ``args_list``, looping ``n`` times over the list."""
    loop = range(n)
    start = time.perf_counter_ns()
    for _ in loop:
        for args in args_list:
            fn(*args)
    return (time.perf_counter_ns() - start) / (n * len(args_list))


def ordinary(row) -> list[tuple[float, ...]]:
    """Six input tuples inside the row's domain (the second input's order reversed)."""
    columns = []
    for k, (lo, hi) in enumerate(row.domain):
        fractions = FRACTIONS if k == 0 else FRACTIONS[::-1]
        columns.append([lo + f * (hi - lo) for f in fractions])
    return list(zip(*columns))


def compare(before, after, inputs, n: int, repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    for name, row in after.OPS.items():
        old = before.OPS.get(name)
        if old is None:
            continue
        args_list = inputs(row)
        a, b = [], []
        for _ in range(repeat):  # alternate so both share the machine's state
            a.append(time_calls(old.fn, args_list, n))
            b.append(time_calls(row.fn, args_list, n))
        rows.append((name, statistics.median(a), statistics.median(b)))
    return rows


def table(title: str, rows, unit: str = "ns", digits: int = 1) -> str:
    """A markdown table of (op, before, after) rows, in ``unit`` per call."""
    lines = [
        f"### {title}",
        "",
        f"| op | before {unit} | after {unit} | after / before |",
        "|---|---|---|---|",
    ]
    for name, a, b in rows:
        lines.append(f"| {name} | {a:.{digits}f} | {b:.{digits}f} | {b / a:.3f} |")
    return "\n".join(lines)


def inputs_of(kind: str):
    """The input tuples of a row for ``kind``: ``"ordinary"`` or ``"special"``."""
    return ordinary if kind == "ordinary" else lambda row: SPECIAL[row.arity]


def child(path: str, name: str, kind: str, n: int) -> None:
    """Run one row's ``fn`` ``n`` times over its inputs (under callgrind)."""
    ops = load(Path(path).read_text(), "ops_child")
    row = ops.OPS[name]
    args_list = inputs_of(kind)(row)
    fn = row.fn
    for _ in range(n):
        for args in args_list:
            fn(*args)


def instructions(path: str, name: str, kind: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [sys.executable, __file__, "--child", path, name, kind, str(n)]
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        for line in out.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no summary")


def count(before_source: str, kind: str, small: int = 200, large: int = 1200):
    """Instructions per call for every row, before and after."""
    from tapegrad.engine import ops as after

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for label, source in (("before", before_source), ("after", after.__file__)):
            path = Path(tmp) / f"ops_{label}.py"
            path.write_text(source if label == "before" else Path(source).read_text())
            paths.append(str(path))
        before = load(before_source, "ops_before_count")
        for name, row in after.OPS.items():
            if name not in before.OPS:
                continue
            calls = (large - small) * len(inputs_of(kind)(row))
            per_call = [
                (instructions(p, name, kind, large) - instructions(p, name, kind, small)) / calls
                for p in paths
            ]
            rows.append((name, *per_call))
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        path, name, kind, n = sys.argv[2:6]
        child(path, name, kind, int(n))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="a4cf289", help="git revision to compare with")
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats")
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    args = parser.parse_args()
    if args.callgrind:
        print(f"Python {sys.version.split()[0]}; before = {args.before}; valgrind callgrind")
        print()
        for kind, title in (("ordinary", "ordinary inputs"), ("special", "special inputs")):
            rows = count(source_at(args.before), kind)
            print(table(f"{title}, instructions per call", rows, "instr/call", 0))
            print()
        return
    from tapegrad.engine import ops as after

    before = load(source_at(args.before), f"ops_{args.before}")
    n, repeat = (2_000, 5) if args.quick else (20_000, 15)
    print(f"Python {sys.version.split()[0]}; before = {args.before}; {n} loops x {repeat} repeats")
    print()
    common = compare(before, after, ordinary, n, repeat)
    print(table("ordinary inputs (inside each row's domain)", common))
    print()
    special = compare(before, after, inputs_of("special"), n, repeat)
    print(table("special inputs (poles, overflow, nan)", special))
    worst = max(common, key=lambda r: r[2] / r[1])
    print()
    print(f"slowest on ordinary inputs: {worst[0]} at {worst[2] / worst[1]:.3f}x before")


if __name__ == "__main__":
    main()
