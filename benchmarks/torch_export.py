"""Benchmark engine.to_torch: the exported module against hand-written PyTorch.

The workload of ``benchmarks/batched.py``: ``MLP(2, [16, 16, 1])`` (ReLU hidden units,
337 parameters) with the mean hinge loss ``max(0, 1 − y s)`` over ``B`` two-moons
points; one training step without the update (zero the gradients, forward, loss,
``backward()``) at ``B`` = 100, 1,000 and 10,000, through

* **export** -- ``engine.to_torch(lambda x, y: losses.hinge(model(x), y), ...)``: the
  scalar model's tape, lifted and written as a ``torch.nn.Module``;
* **hand** -- the same network written by hand in PyTorch as one would
  (``F.linear``, ``torch.relu``, ``torch.relu(1 - y * s).mean()``), float64.

Before timing, the script checks that both give the same loss and gradients (within
1e-12 relative). Times are CPU time per step (median of repeats), one thread. The
target (issue 17): export within 1.5x of hand-written.

    python benchmarks/torch_export.py            # B = 100, 1,000, 10,000
    python benchmarks/torch_export.py --quick    # B = 100 and 1,000
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tapegrad import engine  # noqa: E402
from tapegrad.nn import MLP, losses, moons  # noqa: E402


def exported(model, X, y):
    module = engine.to_torch(lambda x, t: losses.hinge(model(x), t), model.parameters(), X, y)
    Xt, yt = (torch.tensor(a, dtype=torch.float64) for a in (X, y))

    def step():
        module.zero_grad(set_to_none=True)
        loss = module(Xt, yt).mean()
        loss.backward()
        return loss, [p.grad for p in module.parameters()]

    return step


def hand_written(model, X, y):
    Ws = [
        torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
        for layer in model.layers
    ]
    Bs = [
        torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64)
        for layer in model.layers
    ]
    params = [t.requires_grad_() for pair in zip(Ws, Bs) for t in pair]
    Xt, yt = (torch.tensor(a, dtype=torch.float64) for a in (X, y))

    def step():
        for p in params:
            p.grad = None
        w0, b0, w1, b1, w2, b2 = params
        h = torch.relu(F.linear(Xt, w0, b0))
        h = torch.relu(F.linear(h, w1, b1))
        s = F.linear(h, w2, b2)[:, 0]
        loss = torch.relu(1.0 - yt * s).mean()
        loss.backward()
        return loss, [p.grad for p in params]

    return step


def agree(a, b) -> None:
    (la, ga), (lb, gb) = a(), b()
    same = np.isclose(la.item(), lb.item(), rtol=1e-12, atol=1e-12)
    same = same and all(
        np.allclose(x.numpy(), z.numpy(), rtol=1e-12, atol=1e-12) for x, z in zip(ga, gb)
    )
    if not same:
        raise SystemExit("export and hand-written PyTorch disagree: not timing them")


def cpu_time(step, repeats: int) -> float:
    """Median CPU seconds of one step over ``repeats`` runs (after a warm-up)."""
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B = 100 and 1,000 only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000]
    print(f"torch {torch.__version__}, 1 thread; CPU time per step (median)")
    print(f"{'B':>7} | {'export':>9} | {'hand':>9} | export / hand")
    print(f"{'-' * 7}-|-{'-' * 9}-|-{'-' * 9}-|--------------")
    for batch in sizes:
        X, y = moons(batch, seed=0)
        model = MLP(2, [16, 16, 1], rng=random.Random(0))
        a, b = exported(model, X, y), hand_written(model, X, y)
        agree(a, b)
        repeats = 400 if batch <= 1_000 else 100
        # alternate the two, so that both see the same machine state
        ta, tb = [], []
        for _ in range(5):
            ta.append(cpu_time(a, repeats // 5))
            tb.append(cpu_time(b, repeats // 5))
        t_export, t_hand = statistics.median(ta), statistics.median(tb)
        print(
            f"{batch:>7,} | {t_export * 1e3:>6.3f} ms | {t_hand * 1e3:>6.3f} ms | "
            f"{t_export / t_hand:.2f}x"
        )


if __name__ == "__main__":
    main()
