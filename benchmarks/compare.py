"""Two versions of tapegrad side by side, in one run: did a change make it slower?

    git worktree add /tmp/tapegrad-before <commit>       # the version to compare with
    python benchmarks/compare.py /tmp/tapegrad-before    # this checkout vs that one
    python benchmarks/compare.py /tmp/tapegrad-before --callgrind

Each version is imported from its own folder (``tapegrad.engine`` and
``tapegrad.nn`` point at that checkout's ``engine/`` and ``nn/``) in child
processes, which take turns, so both meet the same state of the machine. The
workloads are ``bench.py``'s, tapegrad only: the deep chain, the wide sum, the
training step (eager and replayed), memory per live node and the 1,000,000-deep
chain at the default recursion limit.

Times are CPU time of the child, median of ``--repeats`` rounds. With
``--callgrind`` the timed workloads are instead counted in instructions
(``valgrind --tool=callgrind``), which do not drift with the machine's load: each
child runs its workload once and three times, and the difference is divided by two
runs' nodes, so start-up, imports and set-up cancel out.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent

# name -> (size for timing, size for callgrind): N of the chain and the wide sum, or
# the number of training steps per run.
WORKLOADS = {
    "chain": (100_000, 20_000),
    "wide": (100_000, 20_000),
    "train": (3, 1),
    "replay": (30, 10),
}
LABELS = {
    "chain": "deep chain x = tanh(x·1.0001 + 0.001)",
    "wide": "wide: Σ a_i·b_i",
    "train": "training step, MLP(2, [16, 16, 1]), 100 points",
    "replay": "training step, replayed (engine.compile)",
}


def child(workload: str, size: int, repeats: int) -> None:
    """Run in a child process: print JSON {nodes, seconds: [...]} (or bytes, depth)."""
    sys.path.insert(0, str(HERE))
    import bench

    if workload == "memory":
        n = size // 3
        print(
            json.dumps(
                {"bytes": bench.bytes_per_node(lambda: bench.chain_graph_tapegrad(n), 3 * n)}
            )
        )
        return
    if workload == "depth":
        print(json.dumps({"completes": bench.tapegrad_chain_completes(size)}))
        return
    sys.setrecursionlimit(10**7)
    if workload == "chain":
        nodes, run = 3 * size, lambda: bench.chain_tapegrad(size)
    elif workload == "wide":
        a, b = bench.wide_inputs(size)
        run, _ = bench.wide_tapegrad(a, b)
        nodes = 2 * size
    else:
        X, y = bench.two_moons(100)
        weights = bench.initial_weights()
        if workload == "train":
            model = bench.TapegradMLP(weights)
        else:
            model = bench.ReplayMLP(weights, X, y)
        model.step(X, y, 0)  # steady state: the first step warms up
        loss = bench.TapegradMLP(weights).loss(X, y)
        nodes = size * sum(1 for v in bench.engine.topological_order(loss) if not v.is_leaf)
        del loss

        def run():
            for k in range(size):
                model.step(X, y, k)

    seconds = [bench.timed(run) for _ in range(repeats)]
    print(json.dumps({"nodes": nodes, "seconds": seconds}))


def version_path(checkout: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    """A folder holding ``tapegrad/engine`` and ``tapegrad/nn`` links to a checkout."""
    package = root / "tapegrad"
    package.mkdir(parents=True)
    (package / "engine").symlink_to(checkout / "engine")
    (package / "nn").symlink_to(checkout / "nn")
    return root


def run_child(path: pathlib.Path, args: list[str], callgrind: bool = False) -> dict | int:
    env = dict(os.environ, PYTHONPATH=str(path), PYTHONHASHSEED="0")
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--child", *args]
    if not callgrind:
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        outfile = pathlib.Path(tmp) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}", *command],
            env=env,
            check=True,
            capture_output=True,
        )
        for line in outfile.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no summary")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", nargs="?", help="a checkout of the version to compare with")
    parser.add_argument("--after", default=str(HERE.parent), help="default: this checkout")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument(
        "--child", nargs=3, metavar=("WORKLOAD", "SIZE", "REPEATS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        workload, size, repeats = args.child
        child(workload, int(size), int(repeats))
        return 0
    if not args.before:
        parser.error("give the checkout to compare with (see the module docstring)")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        versions = {
            "before": version_path(
                pathlib.Path(args.before).resolve(), pathlib.Path(tmp) / "before"
            ),
            "after": version_path(pathlib.Path(args.after).resolve(), pathlib.Path(tmp) / "after"),
        }
        unit = "instructions per node" if args.callgrind else "ns per node (CPU time, median)"
        print(f"| workload | before, {unit} | after | after / before |")
        print("|---|---:|---:|---:|")
        for name, (size, counted) in WORKLOADS.items():
            result = {}
            if args.callgrind:
                for version, path in versions.items():
                    once = run_child(path, [name, str(counted), "1"], callgrind=True)
                    thrice = run_child(path, [name, str(counted), "3"], callgrind=True)
                    nodes = run_child(path, [name, str(counted), "1"])["nodes"]
                    result[version] = (thrice - once) / (2 * nodes)
            else:
                times: dict[str, list[float]] = {v: [] for v in versions}
                for _ in range(args.repeats):
                    for version, path in versions.items():
                        out = run_child(path, [name, str(size), "1"])
                        times[version].append(out["seconds"][0] / out["nodes"] * 1e9)
                result = {v: statistics.median(t) for v, t in times.items()}
            b, a = result["before"], result["after"]
            print(f"| {LABELS[name]} | {b:,.0f} | {a:,.0f} | {a / b:.3f} |", flush=True)
        memory = {v: run_child(p, ["memory", "300000", "1"])["bytes"] for v, p in versions.items()}
        b, a = memory["before"], memory["after"]
        print(
            f"| memory: bytes per live node, chain of 300,000 | {b:,.1f} | {a:,.1f} | {a / b:.3f} |"
        )
        depth = {
            v: run_child(p, ["depth", "1000000", "1"])["completes"] for v, p in versions.items()
        }
        print(
            "| 1,000,000-deep chain at the default recursion limit | "
            + " | ".join("completes" if depth[v] else "fails" for v in versions)
            + " | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
