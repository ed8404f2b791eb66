"""How close can an eager scalar engine in pure Python get to plain floats?

    python benchmarks/floor.py

Times building the deep chain ``x = tanh(x * 1.0001 + 0.001)`` (N = 100,000, 3 ops
per step, no backward) three ways, best of 7, garbage collector on:

* **plain** -- floats, keeping each result in a list (what the float floor keeps for
  its backward pass);
* **bare handle** -- the least an eager engine can do per op in CPython: call the
  operator method, compute the result, allocate a 3-slot handle and append an
  8-item entry to a flat tape. No op table, no local derivatives worth the name, no
  input checks, no no_grad/scope/anomaly switches, and no backward;
* **tapegrad** -- ``engine.Value``, the same build.

The gap between *plain* and *bare handle* is the cost of one Python method call and
one object per op, which no pure-Python eager engine avoids; it bounds how close
eager tapegrad can get to the float floor.
"""

from __future__ import annotations

import gc
import math
import time

from tapegrad.engine import Value

N = 100_000
_new = object.__new__


class BareHandle:
    __slots__ = ("data", "_tape", "_i")

    def __mul__(self, c: float) -> BareHandle:
        out = self.data * c
        e = self._tape
        node = _new(BareHandle)
        node.data = out
        node._tape = e
        node._i = len(e) >> 3
        e += (out, "mul", self._i, None, c, None, c, None)
        return node

    def __add__(self, c: float) -> BareHandle:
        out = self.data + c
        e = self._tape
        node = _new(BareHandle)
        node.data = out
        node._tape = e
        node._i = len(e) >> 3
        e += (out, "add", self._i, None, 1.0, None, c, None)
        return node

    def tanh(self) -> BareHandle:
        out = math.tanh(self.data)
        e = self._tape
        node = _new(BareHandle)
        node.data = out
        node._tape = e
        node._i = len(e) >> 3
        e += (out, "tanh", self._i, None, 1.0 - out * out, None, None, None)
        return node


def plain(n: int):
    x, kept = 0.5, []
    for _ in range(n):
        x = math.tanh(x * 1.0001 + 0.001)
        kept.append(x)
    return kept


def bare(n: int):
    x = _new(BareHandle)
    x.data, x._tape, x._i = 0.5, [], 0
    for _ in range(n):
        x = (x * 1.0001 + 0.001).tanh()
    return x


def tapegrad(n: int):
    x = Value(0.5)
    for _ in range(n):
        x = (x * 1.0001 + 0.001).tanh()
    return x


def best_ns_per_op(build, repeats: int = 7) -> float:
    best = math.inf
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        result = build(N)
        best = min(best, time.process_time() - start)
        del result
    return best / (3 * N) * 1e9


def main() -> None:
    times = {name: best_ns_per_op(f) for name, f in (("plain", plain), ("bare handle", bare))}
    times["tapegrad"] = best_ns_per_op(tapegrad)
    print(f"build of a {N:,}-step chain ({3 * N:,} ops), best of 7, ns per op:")
    for name, ns in times.items():
        print(f"  {name:12} {ns:6.0f}   {ns / times['plain']:5.1f}× plain")


if __name__ == "__main__":
    main()
