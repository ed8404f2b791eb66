"""Batched replay: write the model for one sample, train it on a whole batch at numpy speed.

The graph of one sample is the same for every sample: only the numbers in the
leaves change. :func:`vmap` records ``fn`` once, on one sample, and replays its
tape over all ``B`` samples at once -- the straight-line program of
:func:`tapegrad.engine.compile` (:mod:`tapegrad.engine.replay`), executed on numpy
arrays of length ``B`` instead of floats: one numpy operation per tape entry,
forward (each row's ``array_fn``, the same formula as its float ``fn``) and
backward (the one chain rule of :mod:`tapegrad.engine.backprop`, run on symbols)::

    step = engine.vmap(lambda x, y: losses.hinge(model(x), y), model.parameters())
    model.zero_grad()
    per_sample = step(X, y)        # X: B rows of 2 numbers, y: B labels -> B losses
    # every parameter's .grad now holds d(mean of the B losses)/d(parameter)

**Per-sample and shared.** Each *column* (one positional argument of ``step``)
holds one entry per sample: a sequence or array of ``B`` numbers gives ``fn`` one
leaf ``Value`` per sample, ``B`` rows of ``d`` numbers a list of ``d`` leaves
(deeper nesting, nested lists). Everything else ``fn`` reads -- the parameters,
any other Value it closes over -- is *shared*: one number for the whole batch.
Gradients are accumulated into ``.grad`` of the ``params`` only. A shared Value
that is the *result* of ops made outside ``fn`` (``h = (w * 2).tanh()`` computed
before, and read inside) is part of the replayed tape: it is recomputed from its
leaves' current ``.data`` at every call, as :func:`tapegrad.engine.compile` does
(the eager engine would keep the number it was built with), and the gradient
through it goes sample by sample to the parameters, where ``backward()`` first sums
it at ``h``: the same numbers added in another order, equal within rounding, not
bit for bit. Compute such Values inside ``fn`` (or from parameters only) to keep
the exact equality.

**Labels are columns too.** A label ``fn`` reads as a plain number (``y.data``,
or a number captured per sample) would be recorded as a constant of the first
sample and replayed for all; pass labels as a column, so ``fn`` receives them as
Values, and use them as operands (``(1 - y * score).relu()``). The losses of
:mod:`tapegrad.nn.losses` accept Value labels; softmax cross-entropy takes a
one-hot (class-probability) label, a column of ``B`` rows of ``K`` numbers.

**Lifted by default.** At recording, the tape is also lifted into the lecture's vector
blocks (:func:`tapegrad.engine.lift`: a layer's weighted sums one matrix product, its
activations one elementwise operation), and a call runs that program
(:class:`tapegrad.engine.lift.BatchedProgram`), forward and backward, instead of one
numpy operation per tape entry: for ``MLP(2, [16, 16, 1])`` with the hinge loss, nine
vector instructions instead of 644 entries (about forty numpy calls a step, forward
and backward, instead of well over a thousand). Its elementwise operations are the
per-entry path's, but a matrix product adds a weighted sum's terms in its own order
and the batch's gradients are summed by products: results equal the per-entry path
below within ``1e-12`` relative (``1e-12`` absolute near zero; tested on random
models), not bit for bit. :meth:`BatchedStep.per_sample_grads` runs the lifted program
too, compiled to keep one gradient column per sample. ``lift=False`` (on ``vmap``, or
on ``per_sample_grads`` alone) runs the per-entry path, which the next paragraph
describes. :attr:`BatchedStep.lifted` holds the lifted program (``.program`` prints it,
``.source`` shows its numpy code).

**Exactly backward() of the batch mean** (``lift=False``).
``step(*columns, reduce="mean")`` adds to
each parameter's ``.grad`` what ``losses.mean([fn(*sample) for sample in batch])
.backward()`` adds, in the same order: every per-sample contribution is computed
with the same IEEE operations (seeded with ``1/B``, as the mean's backward seeds
each loss), and the contributions are summed sample after sample, last sample
first -- the order backward walks a batch's tape -- not pairwise. So the gradients
are bit for bit those of the scalar ``backward()`` wherever numpy's operation is
the same IEEE operation as Python's: ``+ - * /``, ``sqrt``, ``abs``, ``relu``,
``sign``, ``neg`` (a ReLU MLP with the hinge loss: equal to the last bit, tested at
B = 1,000). ``exp``, ``log``, ``tanh``, ``sigmoid``, ``sin``, ``cos`` and ``pow`` use
numpy's implementations, which may differ from Python's ``math`` by a few ulp
(results within 4 ulp; the derivatives ``1 - t²`` and ``s(1 - s)`` of tanh and
sigmoid within ``4 · 2⁻⁵²`` absolute: see ``tapegrad.engine.Op.array_fn``), and
these differences then travel through the rest of the graph as any rounding
does: tests assert per-sample losses and gradients within ``1e-12`` relative to
the scalar engine for tanh and sigmoid MLPs and a graph of every libm op, and
within ``1e-9`` for random expression trees, whose cancellations amplify
rounding. Masked edges (relu at x <= 0, sign, pow at exponent 0) give exactly 0
whatever arrives, inf and nan included, as in the scalar engine.
(A parameter used twice by one sample, or by the loss as well as the model,
gets its contributions in the order of one sample's tape, sample after sample;
a batch recorded model-outputs-first may interleave them differently: the same
numbers added in another order.)

**What cannot be batched is refused, never replayed wrong.** A tape records which
ops ran, not the Python that chose them. So while ``fn`` is traced, every read of a
number is seen (:mod:`tapegrad.engine.trace`): ``.data``, ``float()``, ``int()``,
``bool()``, ``round()``, the comparisons, ``format()``. A read of a number that
depends on a per-sample input or a parameter -- ``if x.data > 0:``, a label read as a
number, ``int(x.data) % 2`` -- raises :class:`~tapegrad.engine.TracedReadError` (a
:class:`~tapegrad.engine.GraphChangedError`) naming the read and your line, as JAX's
``ConcretizationTypeError`` does, before anything runs. Numbers of Values made
inside ``fn`` from plain numbers are constants and can be read. An argument check
made with :func:`tapegrad.engine.trace.require` (the losses of :mod:`tapegrad.nn.losses`
check their labels so) is checked on every sample of every call and raises the
``ValueError`` that building that sample's graph raises. Second line of defence,
for what no read shows (a number the function takes from outside, a leaf made under
``no_grad`` from traced numbers): ``vmap`` records ``fn`` on the first sample and
re-traces it on others -- the last one, the middle one, and for each per-sample input
the samples holding its smallest and largest number (up to ``EXTREME_SAMPLES``
of those): if an op, an input or a constant differs it raises
:class:`~tapegrad.engine.GraphChangedError` naming the tape entry; ``check_every=k``
re-traces one more sample at every k-th call. A node made by user code with
``Value(data, children, op, local_grads=...)`` has no vectorized form (only the
rows of :data:`tapegrad.engine.OPS` do; a row added with ``register_op`` gets one
from its formulas): :class:`BatchingError`. Under :func:`~tapegrad.engine.detect_anomaly`
every sample is built in the scalar engine before the batch runs, so an op making inf
or nan raises :class:`~tapegrad.engine.AnomalyError` as in ``backward()``. Models built
only from ops -- an MLP, any loss written with Value operations -- are safe.

**Compared with JAX and PyTorch.** ``jax.vmap(f)`` and ``torch.func.vmap(f)``
transform a function of arrays into one that maps it over a batch axis, and
gradients are a separate transform (``jax.grad(lambda w: f_batched(w, X).mean())``;
per-sample gradients ``vmap(grad(f))``). Here the function is written on scalar
Values, and the step fuses the three: map over axis 0 of every column
(``in_axes=0``; closed-over Values are shared, ``in_axes=None``), reduce, and
backpropagate into ``.grad`` as ``backward()`` does (:meth:`BatchedStep.per_sample_grads`
is ``vmap(grad(f))``). Like ``jax.jit``, it traces once and replays, and like JAX it
refuses Python control flow on traced values when it reads them (the tracer holds
real numbers, so the read itself is what is refused).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from . import graph, program, trace
from .lift import BatchedProgram, Program, lift_recording
from .modes import enable_grad, is_anomaly_enabled
from .program import GraphChangedError, ReplayError
from .value import Value

__all__ = ["vmap", "BatchedStep", "BatchingError", "Recording", "REDUCTIONS"]

#: The reductions a step accepts: ``"mean"`` (``backward()`` of the batch mean) or
#: ``"sum"`` (of the batch sum).
REDUCTIONS = ("mean", "sum")

#: At most this many samples holding a per-sample input's smallest or largest number
#: are re-traced when a step is recorded (besides the last and the middle one): two
#: per input, inputs in order, so all of them for up to 16 inputs.
EXTREME_SAMPLES = 32


class BatchingError(ReplayError):
    """The graph cannot be batched: it holds a node with no vectorized form."""


class Recording:
    """One sample's recorded tape, as a batched step replays it (``step.recording``,
    after the first call or :meth:`BatchedStep.record`): for code that compiles the
    tape further (:mod:`tapegrad.engine.program` writes it as one numpy operation per
    entry).

    * ``root`` -- the loss Value of sample 0; ``walk`` -- ``graph.walk(root)``, the
      tape in evaluation order (:class:`tapegrad.engine.graph.Walk`);
    * ``inputs`` -- the per-sample leaves ``fn`` was given, columns in order, each
      column's numbers flattened row by row; ``where[k] = (column, index in the
      flattened row)`` of ``inputs[k]``;
    * ``sources[j]`` -- for the ``j``-th leaf of ``walk.leaves()``: the index into
      ``inputs`` when it is a per-sample input, -1 when it is shared (a parameter, or
      any Value ``fn`` closes over: its ``.data`` is read at every call);
    * ``watch`` -- the positions in ``walk`` of the watched outputs, in order, and
      ``nesting`` -- how ``fn`` returned them (None: the loss alone; else a list, per
      item None for a Value or ``(list or tuple, inner nesting)``: see
      :func:`tapegrad.engine.trace.split`);
    * ``checks`` -- the positions in ``walk`` of the numbers ``fn`` checked with
      :func:`tapegrad.engine.trace.require` (``walk`` is the walk of the root and of
      them), in the order of :attr:`BatchedStep.requirements`: code that runs the tape
      must check them on every sample (``requirement.check(numbers)``) before it
      changes anything.
    """

    __slots__ = ("root", "walk", "inputs", "where", "sources", "watch", "nesting", "checks")

    def __init__(
        self,
        root: Value,
        walk: graph.Walk,
        inputs: tuple[Value, ...],
        where: tuple[tuple[int, int], ...],
        sources: tuple[int, ...],
        watch: Iterable[int],
    ) -> None:
        self.root, self.walk, self.inputs, self.where = root, walk, inputs, where
        self.sources, self.watch = sources, tuple(watch)
        self.nesting: Any = None
        self.checks: tuple[int, ...] = ()

    def __repr__(self) -> str:
        entries, leaves = _counts(self.walk)
        return (
            f"<Recording of {entries} tape entries and {leaves} leaves, "
            f"{len(self.inputs)} per-sample inputs>"
        )


def _counts(walk: graph.Walk) -> tuple[int, int]:
    """``(tape entries, leaves)`` of one sample's walk: the ops (what
    :attr:`tapegrad.engine.lift.Program.entry_count` and the lifted program's header
    count) and, apart, the leaves they read (per-sample inputs and shared Values)."""
    entries = sum(1 for parents in walk.parents if parents)
    return entries, len(walk.items) - entries


class _Contributions:
    """Where a parameter's gradient sum starts in the generated code: instead of
    adding its contributions one by one (per sample), it lists them in the order
    backward adds them, so that the batch sum can add them sample after sample,
    as ``backward()`` of the batch mean does (not per sample first)."""

    __slots__ = ("terms",)

    def __init__(self) -> None:
        self.terms: list = []

    def __add__(self, c):  # old + c, from backprop's Pass.add: keep c, in order
        self.terms.append(c)
        return self

    @property
    def text(self) -> str:
        return f"({', '.join(c.text for c in self.terms)},)"

    @property
    def reads(self) -> frozenset:
        return frozenset().union(*(c.reads for c in self.terms))


def _numpy():
    import numpy as np  # an explicit dependency; loaded on first use, as array_fn does

    return np


def _count_positional(fn: Callable) -> tuple[int, float] | None:
    """``(fewest, most)`` positional arguments ``fn`` takes (``most`` is inf with
    ``*args``), or None if its signature cannot be read."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    fewest, most = 0, 0.0
    for p in parameters:
        if p.kind is p.VAR_POSITIONAL:
            most = math.inf
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            fewest += p.default is p.empty
    return fewest, most


class BatchedStep:
    """``fn``'s graph for one sample, replayed over a batch (see the module docstring).

    ``fn(*per_sample)`` builds a loss Value from one sample's leaves (and any
    shared Values it closes over); it may return ``(loss, *watched)`` to also get
    other nodes' per-sample values (a model's outputs). ``params`` are the leaves
    whose ``.grad`` a call accumulates into. The graph is recorded at the first
    call (the tracer needs numbers); ``.source`` shows the generated code.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        params: Iterable[Value],
        *,
        check_every: int | None = None,
        lift: bool = True,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"vmap needs a function that builds a loss, got {fn!r}")
        if isinstance(params, Value):
            raise TypeError("vmap(fn, params): params must be a list of Values, got one Value")
        try:
            params = tuple(params)
        except TypeError:
            raise TypeError(
                f"vmap(fn, params): params must be a list of Values, got {type(params).__name__}"
            ) from None
        params = trace.leaf_list(params, "params")
        self.fn = fn
        self.params: tuple[Value, ...] = params
        self.check_every = trace.check_every(check_every)
        self.calls = 0
        #: The reduced loss of the latest call (the batch mean or sum), summed in
        #: ``backward()``'s order: the number ``losses.mean(...).data`` gives.
        self.loss: float | None = None
        self._arity = _count_positional(fn)
        self._recorded = False
        if not isinstance(lift, bool):
            raise TypeError(f"lift must be True or False, got {type(lift).__name__}: {lift!r}")
        self.lift = lift
        #: The lifted program and its numpy runner (None with ``lift=False`` or before
        #: the recording): see :mod:`tapegrad.engine.lift`.
        self.lifted: BatchedProgram | None = None

    # -- the columns ------------------------------------------------------------
    def _columns(self, columns: tuple) -> tuple[int, list]:
        """Check the columns; return the batch size and each column as a float64
        array of shape ``(B, *per_sample_shape)``."""
        np = _numpy()
        if not columns:
            raise TypeError("a batched step needs at least one column of per-sample inputs")
        if self._arity is not None and not self._arity[0] <= len(columns) <= self._arity[1]:
            fewest, most = self._arity
            takes = f"{fewest}" if fewest == most else f"at least {fewest}"
            if fewest != most and most != math.inf:
                takes = f"{fewest} to {int(most)}"
            raise TypeError(
                f"the function takes {takes} per-sample argument(s), got {len(columns)} column(s)"
            )
        arrays = []
        for k, column in enumerate(columns):
            if isinstance(column, (str, bytes, Value, numbers.Number)) or column is None:
                raise TypeError(
                    f"column {k} must be a sequence or array with one entry per sample, got "
                    f"{type(column).__name__}: {column!r} (a number shared by every sample "
                    "belongs inside the function)"
                )
            if not hasattr(column, "__len__"):  # a generator, an iterator: numpy makes 0-d
                raise TypeError(
                    f"column {k} must be a sequence or array with one entry per sample, got "
                    f"{type(column).__name__} (make it a list first)"
                )
            try:
                array = np.asarray(column)
            except ValueError as e:  # numpy: "inhomogeneous shape" for ragged rows
                raise ValueError(f"column {k} is ragged (rows of different lengths): {e}") from None
            if array.dtype.kind not in "iuf":
                raise TypeError(
                    f"column {k} must hold real numbers (int or float), got an array of "
                    f"dtype {array.dtype}"
                    + (
                        " (ragged rows, or non-numbers such as None or Values?)"
                        if array.dtype.kind == "O"
                        else ""
                    )
                )
            if array.ndim == 0:
                raise TypeError(f"column {k} must have one entry per sample, got a 0-d array")
            arrays.append(array.astype(np.float64, copy=False))
        sizes = [len(a) for a in arrays]
        if len(set(sizes)) != 1:
            raise ValueError(
                f"every column needs one entry per sample, but their lengths differ: {sizes}"
            )
        if sizes[0] == 0:
            raise ValueError("a batch needs at least one sample, got columns of length 0")
        if self._recorded:
            shapes = [a.shape[1:] for a in arrays]
            if shapes != self._shapes:
                raise ValueError(
                    f"the per-sample shapes of the columns are {shapes}, but the step was "
                    f"recorded with {self._shapes}; make a new engine.vmap for other shapes"
                )
        return sizes[0], arrays

    def _set_sample(self, arrays: list, p: int) -> None:
        """Give the per-sample leaves the numbers of sample ``p``."""
        for leaf, (k, j) in zip(self._leaves, self._where):
            leaf.data = float(arrays[k].reshape(len(arrays[k]), -1)[p, j])

    def _trace(
        self, arrays: list, p: int, requirements: list | None = None
    ) -> tuple[Value, list, Any, graph.Walk]:
        """Trace ``fn`` on sample ``p``: (root, watched, nesting, walk) -- the walk of
        the root and of the numbers the function checked (:func:`trace.require
        <tapegrad.engine.trace.require>`), whose checks go into ``requirements``."""
        self._set_sample(arrays, p)
        requirements = [] if requirements is None else requirements
        with enable_grad():
            root, watched, shape = trace.call(
                self.fn,
                tuple(self._args),
                error=BatchingError,
                what="engine.vmap",
                kind="batched",
                requirements=requirements,
            )
        walk = graph.walk(root)
        # a checked number the loss does not depend on is computed too (rare: a label's
        # check reads the label, which the loss reads)
        extra = [r.value for r in requirements if walk.position(r.value) < 0]
        return root, watched, shape, graph.walk(root, *extra) if extra else walk

    # -- recording ----------------------------------------------------------------
    def _record(self, arrays: list) -> None:
        np = _numpy()
        self._shapes = [a.shape[1:] for a in arrays]
        self._leaves: list[Value] = []
        self._where: list[tuple[int, int]] = []  # per leaf: (column, flat index in a row)
        args = []
        for k, a in enumerate(arrays):
            shape = a.shape[1:]
            flat = [Value(0.0) for _ in range(int(np.prod(shape, dtype=int)))]
            self._leaves += flat
            self._where += [(k, j) for j in range(len(flat))]
            args.append(_nest(flat, shape))
        self._args = args
        #: The argument checks ``fn`` made on traced numbers: each call checks every sample.
        self.requirements: list[trace.Requirement] = []
        root, watched, self._shape, walk = self._trace(arrays, 0, self.requirements)
        self._watched_count = len(watched)
        self.signature = program.signature(walk)
        self.walk_leaves = walk.leaves()
        own = {id(v): i for i, v in enumerate(self._leaves)}
        taken = {id(p) for p in self.params}
        for leaf in self._leaves:
            if id(leaf) in taken:
                raise ValueError("a per-sample input cannot also be a parameter")
        # per walk leaf: the index of its per-sample leaf, or -1 (shared: read .data)
        self._sources = [own.get(id(v), -1) for v in self.walk_leaves]
        positions = [walk.position(v) for v in watched]
        for v, i in zip(watched, positions):
            if i < 0:
                raise ValueError(
                    f"{v!r} is not part of the graph of the loss, so it cannot be watched"
                )
        checks = [walk.position(r.value) for r in self.requirements]
        program.check_table_ops(walk, _no_vectorized_form)
        #: One sample's tape, for code that compiles it further (see :class:`Recording`).
        self.recording = Recording(
            root, walk, tuple(self._leaves), tuple(self._where), tuple(self._sources), positions
        )
        self.recording.nesting, self.recording.checks = self._shape, tuple(checks)
        positions += checks
        code = program.generate(
            root,
            walk,
            self.params,
            positions,
            form="array_fn",
            start=lambda lines, k: _Contributions(),
            filename="<engine.vmap>",
        )
        self.source, self._reached, self._function = code.source, code.reached, code.function
        self._program: Program | None = None
        self._per_sample: BatchedProgram | None = None
        # the lifted program also computes the checked numbers, as watched outputs
        self._checked = Recording(
            root,
            walk,
            self.recording.inputs,
            self.recording.where,
            self.recording.sources,
            positions,
        )
        self.lifted = None
        if self.lift:
            program_ = self._lifted_program()
            self.lifted = None if program_ is None else BatchedProgram(program_, self.params)
        for p in self._samples_to_check(arrays):
            self._check(arrays, p)
        # only a recording that passed its checks is kept: after a refusal, the next
        # call records (and checks) again instead of replaying the refused tape
        self._recorded = True

    def _lifted_program(self) -> Program | None:
        """The recording lifted (:func:`~tapegrad.engine.lift.lift_recording`, made once),
        or None when the tape goes on past the root (the numbers ``fn`` checked that the
        loss does not depend on): that tape runs per entry."""
        walk = self._checked.walk
        if walk.position(self._checked.root) != len(walk.items) - 1:
            return None
        if self._program is None:
            self._program = lift_recording(self._checked, self.fn, len(self._shapes))
        return self._program

    def _samples_to_check(self, arrays: list) -> list[int]:
        """The samples the recording is re-traced on: the last and the middle one, and
        for each per-sample input the samples holding its smallest and its largest
        number (and its first nan), at most ``EXTREME_SAMPLES`` of those. One
        input's number read as a constant is then seen whenever it is not the same for
        every sample, and a threshold on it (``if x.data > c``) whenever samples lie on
        both sides: the smallest and the largest number do."""
        np = _numpy()
        batch = len(arrays[0])
        chosen = dict.fromkeys([batch - 1, batch // 2])
        extremes: dict[int, None] = {}
        for k, j in self._where:
            column = arrays[k].reshape(batch, -1)[:, j]
            nans = np.isnan(column)
            if nans.all():
                continue
            extremes.update(dict.fromkeys([int(np.nanargmin(column)), int(np.nanargmax(column))]))
            if nans.any():
                extremes[int(np.argmax(nans))] = None
            if len(extremes) >= EXTREME_SAMPLES:
                break
        chosen.update(dict.fromkeys(list(extremes)[:EXTREME_SAMPLES]))
        chosen.pop(0, None)  # the recording itself
        return sorted(chosen)

    def check(self, *columns: Any, sample: int = -1) -> None:
        """Re-trace the function on one sample of these columns (default: the last)
        and raise :class:`GraphChangedError` if its graph differs from the recording
        (recording it first if need be). Writes no ``.grad``."""
        batch, arrays = self._columns(columns)
        if isinstance(sample, bool) or not isinstance(sample, int) or not -batch <= sample < batch:
            raise ValueError(f"sample must be an index into the batch of {batch}, got {sample!r}")
        if not self._recorded:
            self._record(arrays)
        self._check(arrays, sample % batch)

    def _check(self, arrays: list, p: int) -> None:
        """Re-trace on sample ``p`` of the checked columns; compare with the recording."""
        _, _, _, walk = self._trace(arrays, p)
        signature = program.signature(walk)
        recorded = self.signature
        advice = (
            "the graph depends on the numbers of the sample (an `if` on .data, or a "
            "number read from .data -- a label read as a number? -- used as a constant), "
            "which one batched tape cannot replay; pass per-sample numbers as columns and "
            "use them as Values, or train sample by sample with backward()"
        )
        if len(signature) != len(recorded):
            raise GraphChangedError(
                f"on sample {p} the function builds a graph of {len(signature)} nodes (tape "
                f"entries and leaves), but {len(recorded)} were recorded on sample 0: {advice}"
            )
        i = program.first_difference(signature, recorded)
        if i is not None:
            raise GraphChangedError(
                f"tape entry v{i} was {program.describe(recorded[i])} on sample 0 and is "
                f"{program.describe(signature[i])} on sample {p}: {advice}"
            )
        leaves = walk.leaves()
        k = trace.first_new_leaf(leaves, self.walk_leaves)
        if k is not None:
            raise GraphChangedError(
                f"leaf {k} of the tape is a new Value holding {leaves[k].data!r} on sample "
                f"{p}, but {self.walk_leaves[k].data!r} on sample 0: the function makes a "
                "leaf from the sample's numbers; pass them as a column instead"
            )

    def _detect_anomaly(self, arrays: list) -> None:
        """Under :func:`~tapegrad.engine.detect_anomaly`, run every sample through the
        scalar engine first, so that the first op making inf or nan from finite inputs
        raises :class:`~tapegrad.engine.AnomalyError` as it would in ``backward()``
        (before any ``.grad`` changes). A debugging mode: it costs building every
        sample's graph, as PyTorch's anomaly mode slows its passes down."""
        if is_anomaly_enabled():
            for p in range(len(arrays[0])):
                self._trace(arrays, p)

    # -- running --------------------------------------------------------------------
    def _run(self, arrays: list, seed: float):
        np = _numpy()
        batch = len(arrays[0])
        flat = [a.reshape(batch, -1) for a in arrays]
        columns = [np.ascontiguousarray(flat[k][:, j]) for k, j in self._where]
        values = [
            leaf.data if k < 0 else columns[k] for leaf, k in zip(self.walk_leaves, self._sources)
        ]
        out_grads: list = [None] * len(self.params)
        watched: list = [None] * (self._watched_count + len(self.requirements))
        with np.errstate(all="ignore"):
            value = self._function(values, [None] * len(self.params), out_grads, watched, seed)
        self._check_requirements(watched[self._watched_count :], batch)
        out = np.broadcast_to(np.asarray(value, dtype=np.float64), (batch,)).copy()
        return (
            out,
            out_grads,
            [np.broadcast_to(w, (batch,)) for w in watched[: self._watched_count]],
        )

    def _outputs(self, out, watched):
        if self._shape is None:
            return out
        return (out, *_fill_arrays(self._shape, iter(watched)))

    def record(self, *columns: Any) -> BatchedStep:
        """Record the graph now, from these columns (sample 0, re-traced on the last,
        the middle and the extreme samples: see the module docstring), without
        running the batch or writing any ``.grad``; a call records on first use
        otherwise. Raises what a call would raise for a
        graph that cannot be batched. Returns the step."""
        self._recorded_columns(columns)
        return self

    def _recorded_columns(self, columns: tuple) -> tuple[int, list]:
        """:meth:`_columns`, recording the graph from them first if not done yet."""
        batch, arrays = self._columns(columns)
        if not self._recorded:
            self._record(arrays)
        return batch, arrays

    def __call__(self, *columns: Any, reduce: str = "mean"):
        """Run the batch: return the per-sample outputs (an array of ``B`` numbers,
        or ``(outputs, *watched)``), and add ``d(mean or sum of the outputs)/d p`` into
        each parameter's ``.grad``, exactly as ``backward()`` of the batch mean or sum
        would (see the module docstring). Raises ``TypeError``/``ValueError`` for bad
        columns or ``reduce`` before anything changes, and :class:`GraphChangedError`
        or :class:`BatchingError` for a graph that cannot be batched."""
        if reduce not in REDUCTIONS:
            raise ValueError(
                f"reduce must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduce!r}"
            )
        np = _numpy()
        batch, arrays = self._recorded_columns(columns)
        self._detect_anomaly(arrays)
        self.calls += 1
        if self.check_every is not None and self.calls % self.check_every == 0:
            self._check(arrays, self.calls % batch)
        seed = 1.0 / batch if reduce == "mean" else 1.0
        if self.lifted is not None:
            out, watched = self._run_lifted(arrays, seed)
            contributions = []  # added by _run_lifted
        else:
            out, contributions, watched = self._run(arrays, seed)
        # The batch's loss, summed one sample after another (losses.mean's order).
        with np.errstate(all="ignore"):
            total = float(np.cumsum(out)[-1])
        self.loss = total * (1.0 / batch) if reduce == "mean" else total
        # Each parameter's gradient: its old .grad (or nothing: the sum then starts at
        # the first contribution, as backward() does), then every contribution of the
        # last sample, then of the one before, ... -- backward()'s order. Parameters
        # with the same number of contributions per sample are summed together.
        groups: dict[int, list[int]] = {}
        for k, terms in enumerate(contributions):
            if self._reached[k]:
                groups.setdefault(len(terms), []).append(k)
        params = self.params
        for count, ks in groups.items():
            width = max(len(ks), 2)  # (a one-column reduce would be pairwise, below)
            sequence = np.empty((batch * count + 1, width))
            sequence[:, len(ks) :] = 0.0
            sequence[0, : len(ks)] = [params[k]._g for k in ks]
            # row 1 + j + count * (B - 1 - p): contribution j of sample p, last sample first
            if count == 1:
                body = sequence[:0:-1]
                for column, k in enumerate(ks):
                    body[:, column] = contributions[k][0]
            else:
                body = sequence[1:].reshape(batch, count, width)[::-1]
                for column, k in enumerate(ks):
                    for j, term in enumerate(contributions[k]):
                        body[:, j, column] = term
            # numpy reduces along a non-contiguous axis row after row (sequentially,
            # not pairwise), which is backward()'s order; test_vmap checks it bit for bit
            with np.errstate(all="ignore"):  # inf - inf is nan, silently, as in floats
                sums = np.add.reduce(sequence, axis=0, initial=-0.0).tolist()  # keeps -0.0
            for column, k in enumerate(ks):
                params[k]._g = sums[column]
        return self._outputs(out, watched)

    def _run_lifted(self, arrays: list, seed: float):
        """Run the lifted program over the batch; add each reached parameter's
        gradient into its ``.grad``. Returns the per-sample outputs and watched values."""
        np = _numpy()
        batch = len(arrays[0])
        lifted = self.lifted
        assert lifted is not None  # called only when there is a lifted program
        columns = [np.ascontiguousarray(a.reshape(batch, -1).T) for a in arrays]
        out, grads, watched = lifted._run(columns, batch, seed)
        self._check_requirements(watched[self._watched_count :], batch)
        lifted._add(grads)
        return np.array(out), watched[: self._watched_count]

    def _check_requirements(self, numbers: list, batch: int) -> None:
        """The function's argument checks on every sample (``numbers``: the checked
        numbers, per requirement), before anything changes."""
        np = _numpy()
        for r, checked in zip(self.requirements, numbers):
            shape = getattr(checked, "shape", ())
            r.check(checked if shape == (batch,) else np.broadcast_to(checked, (batch,)))

    def per_sample_grads(self, *columns: Any, lift: bool | None = None):
        """Per-sample gradients (``torch.func``'s ``vmap(grad(f))``): ``(outputs,
        grads)`` where ``grads[i]`` is an array of ``B`` numbers, ``d fn(sample
        p)/d params[i]`` for each sample ``p`` -- each what ``fn(sample).backward()``
        alone gives (0.0 for a parameter the function does not reach). No ``.grad``
        is written.

        ``lift`` (default: the step's own ``lift``) runs the lifted program
        (:class:`~tapegrad.engine.lift.BatchedProgram` with ``per_sample=True``: a
        layer's weight gradients are each sample's outer product ``g zᵀ``), equal to
        the per-entry path within ``1e-12`` relative (``1e-12`` absolute near zero);
        ``lift=False`` runs one numpy operation per tape entry, each sample's
        contributions summed in ``backward()``'s order (bit for bit where numpy's
        operations are Python's: see the module docstring). A tape that does not
        lift (it goes on past the loss) runs per entry either way."""
        np = _numpy()
        if lift is not None and not isinstance(lift, bool):
            raise TypeError(
                f"lift must be True, False or None, got {type(lift).__name__}: {lift!r}"
            )
        batch, arrays = self._recorded_columns(columns)
        self._detect_anomaly(arrays)
        lifted = self._per_sample_program() if (self.lift if lift is None else lift) else None
        if lifted is not None:
            inputs = [np.ascontiguousarray(a.reshape(batch, -1).T) for a in arrays]
            out, per_sample, watched = lifted._rows(inputs, batch, 1.0)
            self._check_requirements(watched[self._watched_count :], batch)
            out, watched = np.array(out), watched[: self._watched_count]
            return self._outputs(out, watched), per_sample
        out, contributions, watched = self._run(arrays, 1.0)
        grads = []
        for k, terms in enumerate(contributions):
            if not self._reached[k]:
                grads.append(np.zeros(batch))
                continue
            total = np.broadcast_to(terms[0], (batch,))
            with np.errstate(all="ignore"):  # IEEE results, no warnings, as in floats
                for term in terms[1:]:
                    total = total + term
            grads.append(np.array(total, dtype=np.float64))
        return self._outputs(out, watched), grads

    def _per_sample_program(self) -> BatchedProgram | None:
        """The lifted program compiled for per-sample gradients (made on first use),
        or None when the tape does not lift."""
        if self._per_sample is None:
            program_ = self._lifted_program()
            if program_ is None:
                return None
            self._per_sample = BatchedProgram(program_, self.params, per_sample=True)
        return self._per_sample

    def __repr__(self) -> str:
        if not self._recorded:
            return f"<BatchedStep (not recorded yet): gradients for {len(self.params)} parameters>"
        entries, _ = _counts(self.recording.walk)
        per_sample = sum(1 for k in self._sources if k >= 0)
        shared = len(self._sources) - per_sample
        if self.lifted is not None:
            program_ = self.lifted.program
            how = (
                f"lifted into {len(program_.instructions)} instructions "
                f"({program_.lifted_fraction:.1%} of the entries)"
            )
        else:
            how = "run entry by entry"
        return (
            f"<BatchedStep of {entries} tape entries per sample (reading {per_sample} "
            f"per-sample inputs and {shared} shared leaves), {how}, gradients for "
            f"{len(self.params)} parameters>"
        )


def _no_vectorized_form(position: int, op: str) -> BatchingError:
    return BatchingError(
        f"the graph holds a node made by Value(..., _op={op!r}), not by "
        "an op of engine.OPS, so it has no vectorized form; engine.vmap runs only "
        "the table's rows (each has an array form: a row added with register_op "
        "gets one from its formulas)"
    )


def _nest(flat: list, shape: tuple):
    """The leaves of one column as ``fn`` receives them: one Value for a column of
    numbers, a list for rows, nested lists for deeper rows."""
    if not shape:
        return flat[0]
    if shape[0] == 0:  # rows of no numbers: an empty list per sample
        return []
    size = len(flat) // shape[0]
    return [_nest(flat[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def _fill_arrays(shape, values):
    """Watched values in ``fn``'s nesting: a Value's is an array of ``B`` numbers, a
    list's an array of shape ``(B, len)`` (nested lists: more axes)."""
    np = _numpy()
    out = []
    for item in shape:
        if item is None:
            out.append(np.array(next(values)))
        else:
            out.append(np.stack(_fill_arrays(item[1], values), axis=-1))
    return out


def vmap(
    fn: Callable[..., Any],
    params: Iterable[Value],
    *,
    check_every: int | None = None,
    lift: bool = True,
) -> BatchedStep:
    """A training step that runs ``fn`` -- written for one sample -- over a batch.

    ::

        step = engine.vmap(lambda x, y: losses.hinge(model(x), y), model.parameters())
        for epoch in range(100):
            model.zero_grad()
            per_sample_losses = step(X, y)       # reduce="mean": .grad of the mean
            for p in model.parameters():
                p.data -= 0.1 * p.grad

    ``step(*columns, reduce="mean" | "sum")``: one column per argument of ``fn``, each
    with one entry per sample (a number, or a row of numbers: ``fn`` then gets a list
    of Values). See the module docstring for labels, exactness, what is refused, and
    how this compares with ``jax.vmap`` and ``torch.func.vmap``. ``lift=False`` runs
    one numpy operation per tape entry instead of the lifted program (bit for bit
    ``backward()``'s numbers, where the lifted program is within ``1e-12``).
    """
    return BatchedStep(fn, params, check_every=check_every, lift=lift)
