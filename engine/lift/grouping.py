"""The lifting pass: group one sample's tape entries into vector instructions.

See :mod:`tapegrad.engine.lift` for what is grouped and how.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import graph
from ..graph import Walk
from ..ops import OPS, Op
from ..value import Value
from .program import Instruction, LiftError, Program, Variable


@dataclass
class _Sum:
    """A weighted sum found on the tape: ``top`` is its last addition."""

    top: int
    terms: list[tuple[int, int]]  # (coefficient leaf, input z), sorted by z
    bias: int  # a shared leaf, or -1
    constants: list[float]  # constant biases, in tape order
    entries: list[int]  # every addition and product it stands for


def lift(
    root: Value,
    inputs: Mapping[str, Sequence[Value]] | Sequence[Value] = (),
    *,
    watch: Iterable[Value] = (),
) -> Program:
    """Lift the tape behind ``root`` into vector instructions (see the module docstring).

    ``inputs`` are the per-sample leaves: a mapping from a name to a sequence of leaf
    Values (one input vector each, named so in the program), or one sequence (named
    ``x``). Every other leaf the root depends on is shared (a parameter). ``watch``
    lists other nodes of the graph whose numbers a runner should return.

    Raises ``TypeError`` for a root or an input that is not a Value, ``ValueError``
    for an input that is not a leaf, a leaf listed twice, an input the root does not
    depend on (named by its column and position, ``x[1]``: lifting on would make the
    leaves the root was really computed from parameters), or a watched node the root
    does not depend on, and :class:`LiftError` for an entry made by user code
    (``Value(data, children, op)``) rather than by a row of ``OPS``.
    """
    if not isinstance(root, Value):
        raise TypeError(f"lift needs a Value (the root of a tape), got {type(root).__name__}")
    columns = _input_columns(inputs)
    walk = graph.walk(root)
    for name, leaves in columns.items():
        for k, v in enumerate(leaves):
            if walk.position(v) < 0:
                raise ValueError(
                    f"input {name}[{k}] {v!r} is not part of the graph of the root (the root "
                    "does not depend on it), so it cannot be an input: pass the leaves the "
                    "root was computed from"
                )
    return _lift_walk(walk, columns, watch)


def lift_columns(
    root: Value, columns: dict[str, list[Value]], watch: Iterable[Value] = ()
) -> Program:
    """:func:`lift` for a batched step's own per-sample leaves (``columns`` as
    :func:`recording_columns` gives them): a leaf the root does not read is allowed --
    an argument, or an element of one, that ``fn`` ignores -- and is an input
    variable's element of entry -1 (no Value of the user's can be mistaken for it: the
    step made every per-sample leaf). Raises what :func:`lift` raises for a watched
    node and an entry made by user code."""
    return _lift_walk(graph.walk(root), columns, watch)


def _lift_walk(walk: Walk, columns: dict[str, list[Value]], watch: Iterable[Value]) -> Program:
    watched = list(watch)
    for v in watched:
        if not isinstance(v, Value) or walk.position(v) < 0:
            raise ValueError(f"{v!r} is not part of the graph of the root, so it cannot be watched")
    return _Lifter(walk, columns, [walk.position(v) for v in watched]).program()


#: Names the generated code of :class:`~tapegrad.engine.lift.BatchedProgram` uses for
#: itself, which an input cannot take (nor names starting with ``_``, ``g_``, ``d_``).
RESERVED = frozenset({"inputs", "theta", "B", "seed", "np", "grads", "run"})


def usable_name(name: object) -> bool:
    """Whether ``name`` can name an input variable (see :data:`RESERVED`)."""
    return (
        isinstance(name, str)
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith(("_", "g_", "d_"))
        and name not in RESERVED
    )


def column_names(fn: object, count: int, usable: Callable[[str], bool] = usable_name) -> list[str]:
    """Names for a batched step's ``count`` columns: ``fn``'s positional parameter
    names where ``usable`` (default :func:`usable_name`; ``lambda x, y: ...`` gives
    ``x``, ``y``), else ``x0``, ``x1``, ... (by position), never twice the same."""
    try:
        parameters = inspect.signature(fn).parameters.values() if callable(fn) else ()
        named = [
            p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        named = []
    names: list[str] = []
    for k in range(count):
        name = named[k] if k < len(named) and usable(named[k]) else f"x{k}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def recording_columns(recording: Any, names: Sequence[str]) -> dict[str, list[Value]]:
    """A batched step's per-sample leaves (``recording.inputs``, of a
    :class:`tapegrad.engine.vmap.Recording`) by column: ``names[k]`` maps to column
    ``k``'s leaves, in order (what :func:`lift` takes as ``inputs``)."""
    columns: dict[str, list[Value]] = {name: [] for name in names}
    for leaf, (k, _) in zip(recording.inputs, recording.where):
        columns[names[k]].append(leaf)
    return columns


def lift_recording(recording: Any, fn: object, count: int) -> Program:
    """Lift a batched step's recording (:class:`tapegrad.engine.vmap.Recording`: one
    sample's tape and which leaves are per-sample) of ``fn`` with ``count`` columns,
    each column one input variable named by :func:`column_names`."""
    columns = recording_columns(recording, column_names(fn, count))
    return _Lifter(recording.walk, columns, list(recording.watch)).program()


def _input_columns(inputs: object) -> dict[str, list[Value]]:
    if isinstance(inputs, Mapping):
        columns = {}
        for name, leaves in inputs.items():
            if not usable_name(name):
                raise ValueError(
                    f"an input's name must be an identifier that is not a keyword, does not "
                    f"start with _, g_ or d_ and is not one of {sorted(RESERVED)}; got {name!r}"
                )
            columns[name] = _leaves(leaves, name)
    else:
        columns = {"x": _leaves(inputs, "x")} if inputs else {}
    seen: set[int] = set()
    for leaves in columns.values():
        for v in leaves:
            if id(v) in seen:
                raise ValueError(f"the input leaf {v!r} is listed twice")
            seen.add(id(v))
    return columns


def _leaves(values: object, name: str) -> list[Value]:
    if isinstance(values, Value):
        values = [values]
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"input {name!r} must be a sequence of Values, got {values!r}")
    out = list(values)
    for v in out:
        if not isinstance(v, Value):
            raise TypeError(f"input {name!r} must hold Values, got {type(v).__name__}: {v!r}")
        if not v.is_leaf:
            raise ValueError(f"input {name!r} must hold leaves, got the result of an op {v!r}")
    return out


class _Lifter:
    """One run of the pass over a walk (see :func:`lift`)."""

    def __init__(self, walk: Walk, columns: dict[str, list[Value]], watched: list[int]):
        self.walk = walk
        n = len(walk.items)
        self.n = n
        rows = walk.rows
        for i, (item, row) in enumerate(zip(walk.items, rows)):
            if type(item) is tuple and not (isinstance(row, Op) and OPS.get(row.name) is row):
                name = row if isinstance(row, str) else getattr(row, "name", row)
                raise LiftError(
                    f"tape entry v{i} was made by Value(..., _op={name!r}), not by an op of "
                    "engine.OPS, so it has no vector form; build it from the table's ops"
                )
        self.columns = columns
        self.variables: dict[str, Variable] = {}
        self.instructions: list[Instruction] = []
        self.locations: dict[int, tuple[str, int]] = {}
        self.by_entries: dict[tuple[int, ...], str] = {}
        self.matrices: dict[tuple[int, ...], str] = {}
        self.counters: dict[str, int] = {}
        # per position: "input", "shared" (leaf) or "op"; per-sample flags by dataflow
        self.input_of: dict[int, str] = {}
        for name, leaves in columns.items():
            entries = tuple(walk.position(v) for v in leaves)
            self._add(Variable(name, "input", (len(leaves),), entries, True))
            if entries and min(entries) >= 0:
                self.by_entries.setdefault(entries, name)
            for k, p in enumerate(entries):
                if p >= 0:
                    self.locations[p] = (name, k)
                    self.input_of[p] = name
        self.leaf = [not ps for ps in walk.parents]
        self.shared_positions = [p for p in range(n) if self.leaf[p] and p not in self.input_of]
        self.per_sample = [False] * n
        for p in range(n):
            if p in self.input_of:
                self.per_sample[p] = True
            else:
                self.per_sample[p] = any(self.per_sample[q] for q in walk.parents[p])
        self.reads = [0] * n
        for ps in walk.parents:
            for q in ps:
                self.reads[q] += 1
        self.kept = set(watched)
        self.kept.add(n - 1)
        self.watched = watched

    # -- naming and variables
    def _name(self, prefix: str) -> str:
        while True:
            k = self.counters.get(prefix, 0)
            self.counters[prefix] = k + 1
            name = f"{prefix}{k}"
            if name not in self.variables:
                return name

    def _add(self, variable: Variable) -> str:
        if variable.name in self.variables:
            raise ValueError(f"two variables named {variable.name!r}")
        self.variables[variable.name] = variable
        return variable.name

    def _shared_leaf(self, p: int) -> bool:
        return self.leaf[p] and p not in self.input_of

    # -- weighted sums
    def _is_add(self, p: int) -> bool:
        row = self.walk.rows[p]
        return isinstance(row, Op) and row.name == "add"

    def _absorbable(self, p: int) -> bool:
        return not self.leaf[p] and self.reads[p] == 1 and p not in self.kept

    def _weighted_term(self, p: int) -> tuple[int, int] | None:
        """``(coefficient leaf, z)`` if entry ``p`` is a product ``w * z`` with ``w`` a
        shared leaf, read only by the sum."""
        walk = self.walk
        row = walk.rows[p]
        if not (isinstance(row, Op) and row.name == "mul") or walk.constants[p] is not None:
            return None
        if not self._absorbable(p):
            return None
        a, b = walk.parents[p]
        if self._shared_leaf(a):
            return a, b
        if self._shared_leaf(b):
            return b, a
        return None

    def _weighted_sum(self, top: int) -> _Sum | None:
        walk = self.walk
        found = _Sum(top, [], -1, [], [])
        stack = [top]
        while stack:
            p = stack.pop()
            found.entries.append(p)
            constant = walk.constants[p]
            if constant is not None:
                found.constants.append(constant[1])
            for q in walk.parents[p]:
                term = self._weighted_term(q)
                if term is not None:
                    found.terms.append(term)
                    found.entries.append(q)
                elif self._is_add(q) and self._absorbable(q):
                    stack.append(q)
                elif self._shared_leaf(q) and found.bias < 0:
                    found.bias = q
                else:
                    return None
        if not found.terms:
            return None
        found.terms.sort(key=lambda t: t[1])
        # Python's sum() starts at 0: adding 0.0 changes no sum but -0.0's sign
        found.constants = sorted(c for c in found.constants if c != 0.0)
        return found

    def _find_sums(self) -> tuple[dict[int, _Sum], set[int]]:
        sums: dict[int, _Sum] = {}
        absorbed: set[int] = set()
        for p in range(self.n - 1, -1, -1):
            if p in absorbed or not self._is_add(p):
                continue
            found = self._weighted_sum(p)
            if found is not None:
                sums[p] = found
                absorbed.update(e for e in found.entries if e != p)
        return sums, absorbed

    # -- grouping
    def program(self) -> Program:
        walk = self.walk
        sums, absorbed = self._find_sums()
        keys: dict[tuple, int] = {}
        group_of = [-1] * self.n
        members: dict[int, list[int]] = {}
        for p in range(self.n):
            if p in absorbed:
                continue
            if self.leaf[p]:
                key: tuple = ("input", self.input_of[p]) if p in self.input_of else ("shared",)
            elif p in sums:
                s = sums[p]
                key = (
                    "linear",
                    tuple(z for _, z in s.terms),
                    s.bias >= 0,
                    bool(s.constants),
                )
            else:
                constant = walk.constants[p]
                key = (
                    walk.rows[p].name,
                    None if constant is None else constant[0],
                    tuple(group_of[q] for q in walk.parents[p]),
                )
            g = keys.setdefault(key, len(keys))
            group_of[p] = g
            if not self.leaf[p]:
                members.setdefault(g, []).append(p)
        for g in sorted(members):  # an input's group comes before its reader's
            group = members[g]
            if group[0] in sums:
                self._emit_linear([sums[p] for p in group])
            else:
                self._emit_elementwise(group)
        root = self.n - 1
        if self.leaf[root] and root not in self.locations:  # a leaf root: a parameter
            self._operand((root,))
        program = Program(
            walk=walk,
            variables=self.variables,
            instructions=self.instructions,
            output=self.locations[root],
            watched=[self.locations.get(p) or self._locate_leaf(p) for p in self.watched],
            inputs=list(self.columns),
            shared=[walk.items[p] for p in self.shared_positions],
            locations=self.locations,
        )
        return program

    def _locate_leaf(self, p: int) -> tuple[str, int]:
        self._operand((p,))
        return self.locations[p]

    def _emit_linear(self, found: list[_Sum]) -> None:
        layer = self.counters.get("layer", 0)  # w{layer}, b{layer} -> s{layer + 1}
        self.counters["layer"] = layer + 1
        zs = tuple(z for _, z in found[0].terms)
        coefficients = tuple(w for s in found for w, _ in s.terms)
        matrix = self.matrices.get(coefficients)
        if matrix is None:
            shape = (len(found), len(zs))
            matrix = self._add(
                Variable(self._free(f"w{layer}"), "parameter", shape, coefficients, False)
            )
            self.matrices[coefficients] = matrix
        z = self._operand(zs, broadcast=False)
        inputs = [matrix, z]
        bias: list[str] = []
        if found[0].bias >= 0:
            inputs.append(self._parameter(tuple(s.bias for s in found), f"b{layer}"))
            bias.append("b")
        if found[0].constants:
            inputs.append(self._constant([sum(s.constants) for s in found]))
            bias.append("c")
        name = self._free(f"s{layer + 1}")
        output = self._result(name, [s.top for s in found], self.variables[z].per_sample)
        entries = tuple(sorted(e for s in found for e in s.entries))
        self.instructions.append(
            Instruction("linear", output, tuple(inputs), (len(found),), entries, bias=tuple(bias))
        )

    def _parameter(self, positions: tuple[int, ...], name: str | None = None) -> str:
        """The parameter vector of these shared leaves (made once per tuple)."""
        found = self.by_entries.get(positions)
        if found is not None:
            return found
        name = self._free(name) if name else self._name("p")
        self._add(Variable(name, "parameter", (len(positions),), positions, False))
        self.by_entries[positions] = name
        for k, p in enumerate(positions):
            self.locations.setdefault(p, (name, k))
        return name

    def _free(self, name: str) -> str:
        """``name`` if no variable has it, else ``name_1``, ``name_2``, ..."""
        if name not in self.variables:
            return name
        k = 1
        while f"{name}_{k}" in self.variables:
            k += 1
        return f"{name}_{k}"

    def _result(self, name: str, group: list[int], per_sample: bool) -> str:
        self._add(Variable(name, "result", (len(group),), tuple(group), per_sample))
        for k, p in enumerate(group):
            self.locations[p] = (name, k)
        self.by_entries[tuple(group)] = name
        return name

    def _emit_elementwise(self, group: list[int]) -> None:
        walk = self.walk
        row: Op = walk.rows[group[0]]
        constant = walk.constants[group[0]]
        columns = [
            tuple(walk.parents[p][k] for p in group) for k in range(len(walk.parents[group[0]]))
        ]
        values = [] if constant is None else [walk.constants[p][1] for p in group]
        # when every operand would broadcast (the same op on the same entries, recorded
        # more than once), the first is gathered: the result has one element per entry
        gather_first = (
            len(group) > 1 and len(set(values)) <= 1 and all(len(set(c)) == 1 for c in columns)
        )
        operands = [
            self._operand(c, broadcast=not (gather_first and k == 0)) for k, c in enumerate(columns)
        ]
        if constant is not None:
            operands.insert(constant[0], self._constant(values))
        per_sample = any(self.variables[o].per_sample for o in operands)
        name = None
        if row.arity == 1 and len(operands) == 1:
            source = self.variables[operands[0]]
            layer = source.name[1:]
            weighted_sum = source.kind == "result" and source.name[:1] == "s" and layer.isdigit()
            if weighted_sum and source.entries == tuple(walk.parents[p][0] for p in group):
                name = self._free(f"z{layer}")
        if name is None:
            name = self._name("v")
        output = self._result(name, group, per_sample)
        self.instructions.append(
            Instruction(row.name, output, tuple(operands), (len(group),), tuple(group))
        )

    def _constant(self, values: list[float]) -> str:
        return self._add(
            Variable(self._name("c"), "constant", (len(values),), (), False, tuple(values))
        )

    def _operand(self, positions: tuple[int, ...], broadcast: bool = True) -> str:
        """The variable holding these positions' numbers, in order (see the module
        docstring, step 3), made if need be."""
        if broadcast and len(positions) > 1 and len(set(positions)) == 1:
            positions = positions[:1]
        name = self.by_entries.get(positions)
        if name is not None:
            return name
        if all(self._shared_leaf(p) for p in positions):
            return self._parameter(positions)
        shared = tuple(dict.fromkeys(p for p in positions if p not in self.locations))
        if shared:  # shared leaves with no home yet: one parameter vector for them
            self._parameter(shared)
        sources: list[str] = []
        index = []
        for p in positions:
            var, k = self.locations[p]
            if var not in sources:
                sources.append(var)
            index.append((sources.index(var), k))
        per_sample = any(self.variables[s].per_sample for s in sources)
        name = self._add(
            Variable(self._name("t"), "result", (len(positions),), positions, per_sample)
        )
        self.by_entries[positions] = name
        self.instructions.append(
            Instruction("gather", name, tuple(sources), (len(positions),), (), tuple(index))
        )
        return name
