"""Energy models from lecture 1: the Hopfield network and the Boltzmann machine.

Both are recurrent networks of ``n`` binary units ``y_i ∈ {-1, +1}`` joined by
*symmetric* weights (``w_ij = w_ji``, no self-connections ``w_ii = 0``). Instead of
mapping an input to an output, they give every joint state ``y`` a scalar *energy*;
low energy means "compatible". The dynamics (Hopfield) or the probability
(Boltzmann) follow from the energy alone.

The energy convention
---------------------
The slide writes ``E(y) = -Σ_ij y_i w_ij y_j`` (all ordered pairs, no ½). tapegrad
uses the textbook form (Hopfield 1982, Hinton & Sejnowski 1983), which is *half* of
that sum::

    E(y) = -½ Σ_{i≠j} y_i w_ij y_j  -  Σ_i b_i y_i   =  -Σ_{i<j} w_ij y_i y_j  -  Σ_i b_i y_i

(the Hopfield network has no biases ``b``). Each symmetric pair is *one* parameter:
``model.w[i][j]`` and ``model.w[j][i]`` are the same :class:`tapegrad.engine.Value`, and
:meth:`Module.named_parameters` lists it once, as ``w.i.j`` with ``i < j``. So the
weights stay symmetric under any optimizer. The diagonal ``model.w[i][i]`` is the
plain number ``0.0``, not a parameter.

With this convention both learning rules of the slide are *exactly* gradient steps
with the same ``η`` (``∂E/∂w_ij = -y_i y_j``, ``∂E/∂b_i = -y_i``). Other conventions
change the factor; each row is checked by engine backprop in ``tests/nn/test_energy.py``::

    energy                          parameters          ∂E/∂w_ij       Hebb step is descent with
    -½ Σ_{i≠j} y_i w_ij y_j  (ours)  tied, one per pair  -y_i y_j       η
    -Σ_ij y_i w_ij y_j  (the slide)  tied, one per pair  -2 y_i y_j     η/2
    -Σ_ij y_i w_ij y_j  (the slide)  w_ij, w_ji free     -y_i y_j       η
    -½ Σ_{i≠j} y_i w_ij y_j          w_ij, w_ji free     -½ y_i y_j     2η

So the slide's energy and rule agree exactly when ``w_ij`` and ``w_ji`` are treated
as separate numbers; with one tied parameter per pair the slide's energy doubles
the gradient. For the Boltzmann machine the same factor appears in the gradient of
the log-likelihood, and with the slide's energy it would be 2 for weights but 1 for
biases -- tapegrad's convention avoids that mismatch.

Binary and continuous units
---------------------------
The slide's dynamics ``y_i ← tanh(Σ_j w_ij y_j)`` (its ``x_j`` should read ``y_j``:
the network feeds back its own state) is Hopfield's *graded-response* network
(Hopfield 1984, "Neurons with graded response have collective computational
properties like those of two-state neurons", PNAS 81). :meth:`Hopfield.recall`
runs both, asynchronously (one unit at a time): ``update="sign"`` (default)
with binary units, ``update="tanh"`` with units in ``[−1, 1]``,
``y_i ← tanh(β h_i)`` (``β``, the gain, is 1 on the slide).

*Which energy does the continuous update decrease?* Not the slide's ``E(y)``.
Hopfield's 1984 energy adds an integral term for each unit::

    E_β(y) = E(y) + (1/β) Σ_i G(y_i),   G(v) = ∫_0^v artanh(u) du
                                             = ½ [(1 + v) log(1 + v) + (1 − v) log(1 − v)]

(``G(±1) = log 2``, so binary states have finite energy too). Along unit ``i``,
``E_β = −y_i h_i + G(y_i)/β + (terms without y_i)``, a convex function whose
derivative ``−h_i + artanh(y_i)/β`` vanishes exactly at ``y_i = tanh(β h_i)``: each
asynchronous update moves ``y_i`` to the minimum of ``E_β`` along ``y_i``, so
``E_β`` never increases (:meth:`Hopfield.continuous_energy`; checked in
``tests/nn/test_energy.py``, with the engine's ``∂E_β/∂y_i = 0`` after each
update). As ``β → ∞``, ``tanh(β h) → sign(h)`` and the integral term vanishes:
the binary network and its energy.

The slide's ``E(y)`` itself (twice ``Hopfield.energy()``) is *not* decreased by
the continuous update: ``ΔE = −(y_i' − y_i) h_i`` is positive whenever a unit is
pulled back towards 0, e.g. in the first sweep from a stored pattern, where every
``y_i = ±1`` agrees with its field but ``|tanh(h_i)| < 1``. Measured on the 7×7
letters of notebook 9 (four stored patterns, recall from a stored letter, ``β = 1``):
``E`` rises at every update of the first sweep while ``E_β`` falls at every one.
"""

from __future__ import annotations

import collections
import itertools
import math
import numbers
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from tapegrad.engine import Value, cost_scope, mark_parameters, scope

from . import _checks
from .module import Module

__all__ = [
    "Hopfield",
    "BoltzmannMachine",
    "RecallStep",
    "Moments",
    "MAX_EXACT_UNITS",
    "UPDATES",
    "ENERGY",
    "weight_label",
]

#: The largest ``n`` for which :class:`BoltzmannMachine` enumerates all ``2**n``
#: states to compute the partition function exactly.
MAX_EXACT_UNITS = 16

#: The name of the cost scope the energy is computed in (``Hopfield.energy``):
#: the label of its red square in :func:`tapegrad.engine.draw`'s blocks view.
ENERGY = "E(y)"


# -- argument checks --------------------------------------------------------------


def _spins(y: object, n: int, name: str) -> tuple[int, ...]:
    """A state of ``n`` units, each -1 or +1 (ints or floats equal to ±1, not bools)."""
    if isinstance(y, (str, bytes)) or not isinstance(y, Sequence):
        raise TypeError(f"{name} must be a list or tuple of ±1 values, got {type(y).__name__}")
    if len(y) != n:
        raise ValueError(f"{name} must have {n} units, got {len(y)}")
    out = []
    for i, s in enumerate(y):
        if isinstance(s, bool) or not isinstance(s, numbers.Real):
            raise TypeError(f"{name}[{i}] must be -1 or +1, got {type(s).__name__}: {s!r}")
        if s == 1:
            out.append(1)
        elif s == -1:
            out.append(-1)
        else:
            raise ValueError(f"{name}[{i}] must be -1 or +1, got {s!r}")
    return tuple(out)


def _spin_list(data: object, n: int, name: str) -> list[tuple[int, ...]]:
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(f"{name} must be a list of states, got {type(data).__name__}")
    states = [_spins(y, n, f"{name}[{p}]") for p, y in enumerate(data)]
    if not states:
        raise ValueError(f"{name} is empty: give at least one state")
    return states


def _real_state(y: object, n: int) -> list[Any]:
    """A state for :meth:`energy`: numbers or Values (continuous states are allowed)."""
    if isinstance(y, (str, bytes)) or not isinstance(y, Sequence):
        raise TypeError(f"state must be a list or tuple, got {type(y).__name__}")
    if len(y) != n:
        raise ValueError(f"state must have {n} units, got {len(y)}")
    out: list[Any] = []
    for i, s in enumerate(y):
        if isinstance(s, Value):
            out.append(s)
        elif isinstance(s, bool) or not isinstance(s, numbers.Real):
            raise TypeError(f"state[{i}] must be a number or a Value, got {type(s).__name__}")
        else:
            out.append(float(s))
    return out


def _make_rng(rng: object) -> random.Random | None:
    if rng is None or isinstance(rng, random.Random):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"rng must be None, an int seed or a random.Random, got {rng!r}")
    return random.Random(int(rng))


def _burn_in(value: object) -> int:
    """A number of Gibbs sweeps to discard: an int ``≥ 0`` (else ``ValueError``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"burn_in must be an int ≥ 0, got {value!r}")
    return int(value)


# -- the shared part: symmetric weights and the energy ------------------------------


def weight_label(i: int, j: int, n: int) -> str:
    """The label of the weight between units ``i`` and ``j`` of ``n``: ``w01`` as
    the slide's ``w_ij``, ``w3,12`` once an index has two digits (``n > 10``)."""
    return f"w{i}{j}" if n <= 10 else f"w{i},{j}"


def _symmetric_weights(n: int) -> list[list[Any]]:
    """An n×n matrix whose (i, j) and (j, i) entries are one shared Value labelled
    ``w_ij`` (:func:`weight_label`), zeros on the diagonal as plain floats (so they
    are not parameters)."""
    w: list[list[Any]] = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            w[i][j] = w[j][i] = Value(0.0, label=weight_label(i, j, n))
    return w


class _EnergyModel(Module):
    """Symmetric weights, an optional bias, and ``E(y) = -Σ_{i<j} w_ij y_i y_j - Σ b_i y_i``."""

    n: int
    w: list[list[Any]]
    b: list[Value]

    def pairs(self) -> list[tuple[int, int]]:
        """The index pairs ``(i, j)``, ``i < j``, one per weight, in parameter order."""
        return [(i, j) for i in range(self.n) for j in range(i + 1, self.n)]

    def weight_matrix(self) -> list[list[float]]:
        """The weights as a symmetric n×n list of floats with a zero diagonal."""
        return [[float(x.data) if isinstance(x, Value) else 0.0 for x in row] for row in self.w]

    def forward(self, y: Sequence[Any]) -> Value:
        """The energy of state ``y`` (see :meth:`energy`)."""
        with cost_scope(ENERGY):
            return self._energy_value(self._units(y))

    def _units(self, y: Sequence[Any]) -> list[Value]:
        """State ``y`` (numbers or Values) as Values: each number a leaf labelled ``y_i``."""
        return [
            s if isinstance(s, Value) else Value(s, label=f"y{i}")
            for i, s in enumerate(_real_state(y, self.n))
        ]

    def _energy_value(self, y: Sequence[Any]) -> Value:
        """``E(y)`` of numbers or Values, term by term as the slide writes it:
        ``y_i · w_ij · y_j`` (one product of numbers ``y_i y_j`` times ``w_ij`` for
        numeric units, one node per weight), then ``b_i · y_i``, summed and negated."""
        total = None
        for i, j in self.pairs():
            yi, yj = y[i], y[j]
            if isinstance(yi, Value) or isinstance(yj, Value):
                term = yi * self.w[i][j] * yj
            else:
                term = self.w[i][j] * (yi * yj)
            total = term if total is None else total + term
        for i, b in enumerate(self.b):
            term = b * y[i]
            total = term if total is None else total + term
        if total is None:  # one unit and no bias: nothing to sum
            return Value(0.0)
        return -total

    def energy(self, y: Sequence[Any]) -> Value:
        """``E(y) = -Σ_{i<j} y_i w_ij y_j - Σ_i b_i y_i`` as a Value (half the slide's
        ``-Σ_ij y_i w_ij y_j``; see the module docstring), differentiable with respect
        to the weights and to the units.

        ``y``: ``n`` numbers or Values; each number becomes a leaf Value labelled
        ``y0``, ``y1``, ... (the units the drawings show), and the ops run in the
        cost scope :data:`ENERGY`, so :func:`tapegrad.engine.draw` draws the energy
        as the course's red square of a scalar-valued function, fed by the units,
        and each term as one product ``y_i w_ij y_j``. Raises TypeError/ValueError
        for a state of the wrong length or type.
        """
        return self(self._units(y))  # the units made outside the model's scope

    def local_field(self, y: Sequence[int], i: int) -> float:
        """``h_i = Σ_{j≠i} w_ij y_j + b_i``: minus the slope of ``E`` along ``y_i``,
        since ``E(y) = -y_i h_i + (terms without y_i)``."""
        y = _spins(y, self.n, "state")
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < self.n:
            raise ValueError(f"unit index must be an int in [0, {self.n}), got {i!r}")
        return self._field(self.weight_matrix(), self._bias_floats(), y, i)

    def _bias_floats(self) -> list[float]:
        return [b.data for b in self.b] if self.b else [0.0] * self.n

    @staticmethod
    def _field(w: list[list[float]], b: list[float], y: Sequence[float], i: int) -> float:
        row = w[i]
        h = b[i]
        for j, yj in enumerate(y):
            if j != i:
                h += row[j] * yj
        return h

    def _energy_float(self, w: list[list[float]], b: list[float], y: Sequence[float]) -> float:
        e = 0.0
        n = self.n
        for i in range(n):
            row, yi = w[i], y[i]
            for j in range(i + 1, n):
                e -= row[j] * yi * y[j]
            e -= b[i] * yi
        return e


# -- Hopfield network ----------------------------------------------------------------


#: The asynchronous update rules of :meth:`Hopfield.recall`.
UPDATES = ("sign", "tanh")


class RecallStep(NamedTuple):
    """One asynchronous update during :meth:`Hopfield.recall_steps`.

    ``field`` is ``h_i = Σ_{j≠i} w_ij y_j``; the unit becomes ``sign(h_i)`` (kept
    when ``h_i = 0``; ints), or ``tanh(β h_i)`` with ``update="tanh"`` (floats);
    ``state`` and ``energy`` are after the update. ``energy`` is the energy the rule
    never increases: ``Hopfield.energy()`` for ``sign``,
    :meth:`Hopfield.continuous_energy` for ``tanh``.
    """

    sweep: int
    unit: int
    field: float
    before: float
    after: float
    state: tuple[float, ...]
    energy: float


def _graded(y: object, n: int, name: str) -> list[float]:
    """A state of ``n`` graded units, each a real number in ``[−1, 1]``."""
    if isinstance(y, (str, bytes)) or not isinstance(y, Sequence):
        raise TypeError(
            f"{name} must be a list or tuple of numbers in [-1, 1], got {type(y).__name__}"
        )
    if len(y) != n:
        raise ValueError(f"{name} must have {n} units, got {len(y)}")
    return [_graded_unit(s, f"{name}[{i}]") for i, s in enumerate(y)]


def _graded_unit(s: object, name: str) -> float:
    """One graded unit: a real number in ``[−1, 1]``, as a float."""
    if isinstance(s, bool) or not isinstance(s, numbers.Real):
        raise TypeError(f"{name} must be a number in [-1, 1], got {type(s).__name__}: {s!r}")
    if s < -1.0 or not s <= 1.0:  # "not <=" also refuses nan
        raise ValueError(f"{name} must be in [-1, 1], got {s!r}")
    return float(s)


def _entropy_term(v: float) -> float:
    """``G(v) = ∫_0^v artanh(u) du = ½[(1+v) log(1+v) + (1−v) log(1−v)]``, with
    ``0 log 0 = 0`` (so ``G(±1) = log 2``), within 3 ulp of the exact value.

    Written with ``log1p``, which takes ``v`` itself rather than the rounded ``1 ± v``,
    and, for ``|v| < ½``, as ``½[v (log1p(v) − log1p(−v)) + log1p(−v²)]`` (the same
    sum regrouped: ``v artanh(v) + ½ log(1 − v²)``), whose terms do not cancel to
    ``G ≈ v²/2`` near 0. Measured against 200-bit mpmath on 8,500 points of
    ``(−1, 1)`` (log-spaced towards 0 and ±1): at most 2.8 ulp; the plain
    ``log(1 ± v)`` form was off by 2e4 ulp at ``v = 0.01`` and returned 0 below
    ``|v| = 1e-16``. :meth:`Hopfield.continuous_energy` builds the same formula from
    Values."""
    if -0.5 < v < 0.5:
        return 0.5 * (v * (math.log1p(v) - math.log1p(-v)) + math.log1p(-v * v))
    total = 0.0
    for u in (v, -v):  # (1 + u) log(1 + u), and 0 log 0 = 0 at v = ±1
        if u > -1.0:
            total += (1.0 + u) * math.log1p(u)
    return 0.5 * total


class Hopfield(_EnergyModel):
    """A Hopfield network: an associative memory of ``n`` ±1 units.

    * **Storage** (:meth:`store`), Hebb's rule ``w_ij ← w_ij + η y_i y_j`` for each
      pattern ``y``: exactly one gradient-descent step ``w ← w - η ∂E(y)/∂w`` on the
      energy of the pattern, which digs a valley at ``y`` (and at ``-y``).
    * **Recall** (:meth:`recall`), asynchronous: one unit at a time,
      ``y_i ← sign(h_i)`` with ``h_i = Σ_{j≠i} w_ij y_j``, keeping ``y_i`` when
      ``h_i = 0``. Flipping unit ``i`` changes the energy by
      ``ΔE = -(y_i' - y_i) h_i = -2|h_i| < 0``, so the energy never increases and
      recall stops at a local minimum: a state no single flip improves.

    >>> net = Hopfield(4)
    >>> net.store([[1, -1, 1, -1]])
    >>> net.recall([1, -1, 1, 1])
    [1, -1, 1, -1]
    """

    def __init__(self, n: int) -> None:
        self.n = _checks.count(n, "Hopfield: n")
        self.w = _symmetric_weights(self.n)
        self.b: list[Value] = []

    def config(self) -> dict[str, Any]:
        return {"n": self.n}

    # -- storage ------------------------------------------------------------------
    def store(self, patterns: Iterable[Sequence[int]], lr: float | None = None) -> None:
        """Store ±1 patterns with Hebb's rule ``w_ij += lr · y_i y_j`` (``i ≠ j``).

        ``lr`` defaults to ``1/n``, the usual normalisation; recall depends only on
        the signs of the fields, so any positive ``lr`` stores the same memories (a
        negative one "unlearns"). Every pattern is checked before any weight changes.
        """
        patterns = _spin_list(patterns, self.n, "patterns")
        lr = 1.0 / self.n if lr is None else _checks.real(lr, "lr")
        for y in patterns:
            for i, j in self.pairs():
                self.w[i][j].data += lr * (y[i] * y[j])

    # -- recall -------------------------------------------------------------------
    def recall_steps(
        self,
        state: Sequence[float],
        *,
        max_sweeps: int = 100,
        rng: object = None,
        update: str = "sign",
        gain: float = 1.0,
        tol: float = 1e-9,
    ) -> Iterator[RecallStep]:
        """Run asynchronous recall from ``state``, yielding every unit update.

        A *sweep* visits every unit once: in order ``0 … n-1`` when ``rng`` is None,
        otherwise in a fresh random order per sweep (``rng`` is an int seed or a
        ``random.Random``). ``update="sign"``: binary units (``state`` of ±1),
        ``y_i ← sign(h_i)``; recall ends after the first sweep that changes nothing
        (a fixed point). ``update="tanh"``: graded units (``state`` in ``[−1, 1]``),
        the slide's ``y_i ← tanh(gain · h_i)``; recall ends after the first sweep in
        which no unit moves more than ``tol``. Either way it stops after
        ``max_sweeps`` sweeps. The arguments are checked, and the weights read, when
        this is called, not when iteration starts. See the module docstring for the
        energy each rule decreases.
        """
        if update not in UPDATES:
            raise ValueError(f"update must be one of {', '.join(UPDATES)}; got {update!r}")
        max_sweeps = _checks.count(max_sweeps, "max_sweeps")
        generator = _make_rng(rng)
        w, b = self.weight_matrix(), self._bias_floats()
        if update == "sign":
            y = list(_spins(state, self.n, "state"))
            return self._recall(y, max_sweeps, generator, w, b)
        gain = _checks.positive(gain, "gain")
        tol = _checks.nonnegative(tol, "tol")
        y_graded = _graded(state, self.n, "state")
        return self._recall_graded(y_graded, max_sweeps, generator, w, b, gain, tol)

    def _recall_graded(
        self,
        y: list[float],
        max_sweeps: int,
        generator: random.Random | None,
        w: list[list[float]],
        b: list[float],
        gain: float,
        tol: float,
    ) -> Iterator[RecallStep]:
        order = list(range(self.n))
        # E_β is kept up to date by differences: only unit i's terms change.
        energy = self._energy_float(w, b, y) + sum(_entropy_term(v) for v in y) / gain
        for sweep in range(max_sweeps):
            if generator is not None:
                generator.shuffle(order)
            largest = 0.0
            for i in order:
                h = self._field(w, b, y, i)
                before = y[i]
                after = math.tanh(gain * h)
                y[i] = after
                energy += (
                    -(after - before) * h + (_entropy_term(after) - _entropy_term(before)) / gain
                )
                largest = max(largest, abs(after - before))
                yield RecallStep(sweep, i, h, before, after, tuple(y), energy)
            if largest <= tol:
                return

    def _recall(
        self,
        y: list[int],
        max_sweeps: int,
        generator: random.Random | None,
        w: list[list[float]],
        b: list[float],
    ) -> Iterator[RecallStep]:
        order = list(range(self.n))
        for sweep in range(max_sweeps):
            if generator is not None:
                generator.shuffle(order)
            changed = False
            for i in order:
                h = self._field(w, b, y, i)
                before = y[i]
                # sign(h), and a tie keeps the unit: then ΔE = 0 and recall still ends.
                after = 1 if h > 0 else -1 if h < 0 else before
                y[i] = after
                changed = changed or after != before
                yield RecallStep(sweep, i, h, before, after, tuple(y), self._energy_float(w, b, y))
            if not changed:
                return

    def recall(
        self,
        state: Sequence[float],
        *,
        max_sweeps: int = 100,
        rng: object = None,
        update: str = "sign",
        gain: float = 1.0,
        tol: float = 1e-9,
    ) -> list:
        """The state asynchronous recall reaches from ``state`` (see
        :meth:`recall_steps`): ±1 ints for ``update="sign"``, floats in ``[−1, 1]``
        for ``update="tanh"``."""
        steps = self.recall_steps(
            state, max_sweeps=max_sweeps, rng=rng, update=update, gain=gain, tol=tol
        )
        # n ≥ 1 units and max_sweeps ≥ 1: there is always a last step
        (last,) = collections.deque(steps, maxlen=1)
        return list(last.state)

    def continuous_energy(self, y: Sequence[Any], gain: float = 1.0) -> Value:
        """Hopfield's (1984) energy of graded units, the one ``y_i ← tanh(gain·h_i)``
        never increases::

            E_β(y) = E(y) + (1/β) Σ_i G(y_i),   G(v) = ½[(1+v) log(1+v) + (1−v) log(1−v)]

        with ``E`` = :meth:`energy` and ``β`` = ``gain``. Units are numbers in
        ``[−1, 1]`` or Values in ``(−1, 1)`` (where ``G`` is differentiable:
        ``G'(v) = artanh(v)``). See the module docstring.
        """
        gain = _checks.positive(gain, "gain")
        if isinstance(y, (str, bytes)) or not isinstance(y, Sequence):
            raise TypeError(f"state must be a list or tuple, got {type(y).__name__}")
        for i, v in enumerate(y):  # every number in [-1, 1], named by its position
            if not isinstance(v, Value):
                _graded_unit(v, f"state[{i}]")
        total: Value = self.energy(y)
        for i, v in enumerate(y):
            if isinstance(v, Value):
                if not -1.0 < v.data < 1.0:
                    raise ValueError(f"state[{i}] as a Value must be in (-1, 1), got {v.data!r}")
                # _entropy_term's formula, its branch on the number: G(v) with log1p
                if -0.5 < v.data < 0.5:
                    g = 0.5 * (v * (v.log1p() - (-v).log1p()) + (-(v * v)).log1p())
                else:
                    g = 0.5 * ((1.0 + v) * v.log1p() + (1.0 - v) * (-v).log1p())
                total = total + g * (1.0 / gain)
            else:
                total = total + _entropy_term(float(v)) / gain
        return total

    def is_fixed_point(self, state: Sequence[int]) -> bool:
        """True when no unit would change: ``y_i h_i ≥ 0`` for every ``i`` (ties keep)."""
        y = _spins(state, self.n, "state")
        w, b = self.weight_matrix(), self._bias_floats()
        return all(y[i] * self._field(w, b, y, i) >= 0 for i in range(self.n))


# -- Boltzmann machine ---------------------------------------------------------------


class Moments(NamedTuple):
    """First and second moments of ±1 states: ``means[i] = ⟨y_i⟩`` and
    ``correlations[i][j] = ⟨y_i y_j⟩`` (a symmetric matrix, 1 on the diagonal)."""

    means: list[float]
    correlations: list[list[float]]


def _moments(states: Sequence[Sequence[int]], weights: Sequence[float], n: int) -> Moments:
    means = [0.0] * n
    corr = [[0.0] * n for _ in range(n)]
    for y, p in zip(states, weights):
        for i in range(n):
            pyi = p * y[i]
            means[i] += pyi
            row = corr[i]
            for j in range(n):
                row[j] += pyi * y[j]
    return Moments(means, corr)


class BoltzmannMachine(_EnergyModel):
    """A fully visible Boltzmann machine over ``n`` ±1 units, computed exactly.

    ``p(y) = exp(-E(y)) / Z`` with ``Z = Σ_s exp(-E(s))`` summed over all ``2**n``
    states (so ``n ≤ 16``). Learning maximises the average log-likelihood of data
    ``{y[p]}``; for each weight and bias::

        ∂/∂w_ij  (1/P) Σ_p log p(y[p])  =  ⟨y_i y_j⟩_data - ⟨y_i y_j⟩_model
        ∂/∂b_i   (1/P) Σ_p log p(y[p])  =  ⟨y_i⟩_data     - ⟨y_i⟩_model

    (``-∂E/∂w_ij = y_i y_j`` in the data term; ``∂ log Z/∂w_ij = ⟨y_i y_j⟩_model``).
    So the slide's rule ``w_ij ← w_ij + η(y_i y_j - ỹ_i ỹ_j)`` is gradient *ascent*
    on the log-likelihood (descent on the NLL) with step ``η`` in this energy
    convention, where ``y`` are data and ``ỹ`` are states the model produces
    itself: samples of ``p`` (e.g. by :meth:`sample`), or, as :meth:`train_step`
    does by default, the exact expectation over all states.
    """

    def __init__(self, n: int, bias: bool = True) -> None:
        n = _checks.count(n, "BoltzmannMachine: n")
        if n > MAX_EXACT_UNITS:
            raise ValueError(
                f"BoltzmannMachine computes Z exactly by enumerating all 2**n states; "
                f"n={n} is more than the limit of {MAX_EXACT_UNITS} units"
            )
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}: {bias!r}")
        self.n = n
        self.bias = bias
        self.w = _symmetric_weights(n)
        self.b = [Value(0.0, label=f"b{i}") for i in range(n)] if bias else []

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "bias": self.bias}

    def states(self) -> list[tuple[int, ...]]:
        """All ``2**n`` states, in ``itertools.product((-1, 1), repeat=n)`` order."""
        return list(itertools.product((-1, 1), repeat=self.n))

    # -- exact probabilities, as floats ----------------------------------------------
    def _log_weights(self) -> tuple[list[tuple[int, ...]], list[float], float]:
        """All states, their ``-E(s)``, and ``log Z`` by a stable log-sum-exp."""
        w, b = self.weight_matrix(), self._bias_floats()
        states = self.states()
        neg_e = [-self._energy_float(w, b, s) for s in states]
        m = max(neg_e)
        log_z = m + math.log(math.fsum(math.exp(a - m) for a in neg_e))
        return states, neg_e, log_z

    def probabilities(self) -> list[float]:
        """``p(s)`` for every state, in :meth:`states` order (they sum to 1)."""
        _, neg_e, log_z = self._log_weights()
        return [math.exp(a - log_z) for a in neg_e]

    def model_moments(self) -> Moments:
        """The exact ``⟨y_i⟩`` and ``⟨y_i y_j⟩`` under ``p``, summing over all states."""
        states, neg_e, log_z = self._log_weights()
        return _moments(states, [math.exp(a - log_z) for a in neg_e], self.n)

    def data_moments(self, data: Iterable[Sequence[int]], *, name: str = "data") -> Moments:
        """The averages ``⟨y_i⟩`` and ``⟨y_i y_j⟩`` over a list of ±1 states (``name``
        is what error messages call the list)."""
        states = _spin_list(data, self.n, name)
        return _moments(states, [1.0 / len(states)] * len(states), self.n)

    # -- the same quantities as Values, for autograd ---------------------------------
    def _scoped(self) -> scope:
        """The model's scope, its parameters marked for the drawings, as when it is
        called: the log-likelihood's energies are built by :meth:`_energy_value` of
        numeric states (one node per weight, not the drawn units of :meth:`energy`)."""
        mark_parameters(self.parameters())
        return scope(type(self).__name__)

    def log_partition(self) -> Value:
        """``log Z = log Σ_s exp(-E(s))`` as a Value, by a stable log-sum-exp:
        ``m + log Σ_s exp(-E(s) - m)`` with ``m = max_s -E(s)`` held constant (the
        shift cancels, so the gradient is exact). Builds ``2**n`` energies."""
        with self._scoped():
            neg_e = [-self._energy_value(s) for s in self.states()]
        m = max(a.data for a in neg_e)
        first, *rest = neg_e  # 2**n ≥ 2 states
        total = (first - m).exp()
        for a in rest:
            total = total + (a - m).exp()
        return total.log() + m

    def log_prob(self, y: Sequence[int]) -> Value:
        """``log p(y) = -E(y) - log Z`` as a Value."""
        y = _spins(y, self.n, "y")
        with self._scoped():
            neg_e = -self._energy_value(y)
        return neg_e - self.log_partition()

    def log_likelihood(self, data: Iterable[Sequence[int]]) -> Value:
        """The average log-likelihood ``(1/P) Σ_p log p(y[p])`` as a Value (``log Z``
        is built once). Its gradient is the Boltzmann learning rule."""
        states = _spin_list(data, self.n, "data")
        with self._scoped():
            neg_e = [-self._energy_value(y) for y in states]
        total = neg_e[0]
        for term in neg_e[1:]:
            total = total + term
        return total * (1.0 / len(states)) - self.log_partition()

    # -- learning ---------------------------------------------------------------------
    def train_step(
        self,
        data: Iterable[Sequence[int]],
        lr: float,
        *,
        samples: Iterable[Sequence[int]] | None = None,
    ) -> None:
        """One step of the Boltzmann rule on a batch of data::

            w_ij += lr · (⟨y_i y_j⟩_data - ⟨ỹ_i ỹ_j⟩_model)
            b_i  += lr · (⟨y_i⟩_data     - ⟨ỹ_i⟩_model)

        The model term is exact (a sum over all states) unless ``samples`` -- states
        drawn from the model, e.g. by :meth:`sample` -- are given, in which case it
        is their average: the slide's ``ỹ``, a stochastic estimate of the gradient.
        """
        data_m = self.data_moments(data)
        lr = _checks.real(lr, "lr")
        model_m = (
            self.model_moments() if samples is None else self.data_moments(samples, name="samples")
        )
        for i, j in self.pairs():
            self.w[i][j].data += lr * (data_m.correlations[i][j] - model_m.correlations[i][j])
        for i, b in enumerate(self.b):
            b.data += lr * (data_m.means[i] - model_m.means[i])

    def average_log_likelihood(self, data: Iterable[Sequence[int]]) -> float:
        """``(1/P) Σ_p log p(y[p])`` as a number (exact, no graph): the quantity
        :meth:`log_likelihood` builds as a Value, at the cost of one sum over the
        ``2**n`` states."""
        states = _spin_list(data, self.n, "data")
        _, _, log_z = self._log_weights()
        w, b = self.weight_matrix(), self._bias_floats()
        return -math.fsum(self._energy_float(w, b, y) for y in states) / len(states) - log_z

    def fit(
        self,
        data: Iterable[Sequence[int]],
        lr: float,
        steps: int,
        *,
        samples: int | None = None,
        burn_in: int = 20,
        rng: object = None,
    ) -> list[float]:
        """Run :meth:`train_step` ``steps`` times on the whole of ``data`` and return
        the average log-likelihood before each step and after the last
        (``steps + 1`` numbers).

        ``samples=None`` uses the exact model correlations (gradient ascent on the
        log-likelihood); a number draws that many states from the model by
        :meth:`sample` at every step (``burn_in`` sweeps first, from ``rng``: an int
        seed or a ``random.Random``) -- the slide's ``ỹ``, a stochastic estimate of
        the same gradient. Every argument is checked before the first step.
        """
        states = _spin_list(data, self.n, "data")
        lr = _checks.real(lr, "lr")
        steps = _checks.count(steps, "steps")
        if samples is not None:
            samples = _checks.count(samples, "samples")
        burn_in = _burn_in(burn_in)
        generator = _make_rng(rng) or random.Random()
        curve = [self.average_log_likelihood(states)]
        for _ in range(steps):
            drawn = None
            if samples is not None:
                drawn = self.sample(samples, rng=generator, burn_in=burn_in)
            self.train_step(states, lr, samples=drawn)
            curve.append(self.average_log_likelihood(states))
        return curve

    def sample(
        self,
        num_samples: int,
        *,
        rng: object = None,
        burn_in: int = 100,
        thin: int = 1,
        start: Sequence[int] | None = None,
    ) -> list[tuple[int, ...]]:
        """Draw states from ``p`` by Gibbs sampling.

        One sweep resamples every unit in order from its conditional
        ``p(y_i = +1 | rest) = σ(2 h_i) = 1 / (1 + exp(-2 h_i))`` (because
        ``E = -y_i h_i + …``, the two values of ``y_i`` differ in energy by ``2 h_i``).
        After ``burn_in`` sweeps, the state after every ``thin``-th sweep is kept.
        ``start`` defaults to a random state; ``rng`` is an int seed, a
        ``random.Random``, or None for Python's global ``random`` (as :mod:`tapegrad.nn.layers`
        initialises weights, so ``random.seed`` controls it).
        """
        num_samples = _checks.count(num_samples, "num_samples")
        thin = _checks.count(thin, "thin")
        burn_in = _burn_in(burn_in)
        generator: Any = _make_rng(rng) or random  # the module's functions: the global generator
        if start is None:
            y = [generator.choice((-1, 1)) for _ in range(self.n)]
        else:
            y = list(_spins(start, self.n, "start"))
        w, b = self.weight_matrix(), self._bias_floats()
        out: list[tuple[int, ...]] = []
        sweep = 0
        while len(out) < num_samples:
            for i in range(self.n):
                h = self._field(w, b, y, i)
                # σ(2h) written to avoid overflow of exp for large |h|.
                t = math.exp(-2.0 * abs(h))
                p_plus = 1.0 / (1.0 + t) if h >= 0 else t / (1.0 + t)
                y[i] = 1 if generator.random() < p_plus else -1
            sweep += 1
            if sweep > burn_in and (sweep - burn_in) % thin == 0:
                out.append(tuple(y))
        return out
