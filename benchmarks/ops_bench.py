"""Time every op row's ``fn`` (the eager pass's hot path) against an earlier version.

    python benchmarks/ops_bench.py                  # against commit a4cf289's hand-written fns
    python benchmarks/ops_bench.py --before REV     # against another commit
    python benchmarks/ops_bench.py --quick          # fewer repeats (seconds)

The rows of ``engine/ops.py`` are now compiled from formulas; before, each ``fn`` was
written by hand. This loads ``engine/ops.py`` as it was at ``REV`` (``git show``;
that module imports only the standard library) beside the current one and times both
in the same process, interleaved: for each row and each input set, ``fn(*args)`` is
called in a loop of ``N`` calls, ``repeat`` times in alternation, and the median
ns per call is reported. Inputs cover the common case (six points inside each row's
``domain``, where its tests draw from) and, in a second table, exceptional inputs
(poles, overflow, nan) where the compiled fast path falls back to its IEEE path.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
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


def load_before(rev: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:engine/ops.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"ops_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look the module up
    exec(compile(source, f"ops@{rev}", "exec"), module.__dict__)
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


def table(title: str, rows) -> str:
    lines = [
        f"### {title}",
        "",
        "| op | before ns | after ns | after / before |",
        "|---|---|---|---|",
    ]
    for name, a, b in rows:
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="a4cf289", help="git revision to compare with")
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats")
    args = parser.parse_args()
    from tapegrad.engine import ops as after

    before = load_before(args.before)
    n, repeat = (2_000, 5) if args.quick else (20_000, 15)
    print(f"Python {sys.version.split()[0]}; before = {args.before}; {n} loops x {repeat} repeats")
    print()
    common = compare(before, after, ordinary, n, repeat)
    print(table("ordinary inputs (inside each row's domain)", common))
    print()
    special = compare(before, after, lambda row: SPECIAL[row.arity], n, repeat)
    print(table("special inputs (poles, overflow, nan)", special))
    worst = max(common, key=lambda r: r[2] / r[1])
    print()
    print(f"slowest on ordinary inputs: {worst[0]} at {worst[2] / worst[1]:.3f}x before")


if __name__ == "__main__":
    main()
