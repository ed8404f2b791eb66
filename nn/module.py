"""``Module``: the base class of every model in :mod:`tapegrad.nn`.

A module is a callable that owns parameters -- the leaf ``Value`` s that training
changes. This base class finds them for you, by walking the module's public
attributes in the order they were assigned:

* a ``Value`` attribute is a parameter (``self.b``  ->  ``"b"``);
* a ``Module`` attribute is a child module whose parameters are included with a
  dotted prefix (``self.encoder``  ->  ``"encoder.w.0"``);
* a list or tuple is walked item by item, its index becoming part of the name
  (``self.w = [Value, Value]``  ->  ``"w.0"``, ``"w.1"``; lists may nest);
* a dict is walked in insertion order, its key becoming part of the name
  (``self.heads = {"left": Neuron(2)}``  ->  ``"heads.left.w.0"``);
* attributes whose name starts with ``_`` and every other type are ignored.

So an ``MLP(2, [16, 1])`` names its parameters exactly as one would read them off
the object: ``layers.0.neurons.3.w.1`` is ``mlp.layers[0].neurons[3].w[1]``.

Scopes
------
Calling a module (``model(x)``) runs its :meth:`Module.forward` inside
``engine.scope(name)``, so every Value made during the call is tagged and the graph
renderer can cluster or collapse the module's ops. The scope of the outermost module
is its class name; a child module called by its parent is scoped by its attribute
path inside the parent. An op made inside neuron 3 of layer 0 of an MLP therefore has
the scope path ``MLP.layers.0.neurons.3`` (scope names ``MLP``, ``layers.0``,
``neurons.3``): readable, unique, and the same prefix as the parameters it uses. A
module called on its own (``mlp.layers[0](x)``) is scoped by its class name
(``Layer.neurons.3``).

Rebuilding
----------
:meth:`Module.config` returns the constructor arguments as a JSON-safe dict, so that
``type(m)(**m.config())`` rebuilds the same architecture (with fresh weights), and
every subclass registers itself by class name in :data:`MODEL_REGISTRY`; together
they let :mod:`tapegrad.nn.serialize` save an architecture as data and load it without
executing anything. :mod:`tapegrad.nn.serialize` builds on this module (it knows the
built-in models' sizes), so this module does not import it: :meth:`Module.save` and
:meth:`Module.load` call the functions it puts in :data:`FILE_FORMAT` when it is
imported (importing :mod:`tapegrad.nn` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tapegrad import engine
from tapegrad.engine import Value

__all__ = ["Module", "MODEL_REGISTRY", "FILE_FORMAT"]

#: Every subclass of :class:`Module`, by class name (filled by ``__init_subclass__``).
#: A later class with the same name replaces the earlier one, so re-running a
#: notebook cell that defines a model works.
MODEL_REGISTRY: dict[str, type[Module]] = {}

#: ``"save"`` and ``"load"``: :func:`tapegrad.nn.serialize.save` and
#: :func:`~tapegrad.nn.serialize.load`, put here by that module when it is imported
#: (it imports this one, which therefore cannot import it); :meth:`Module.save` and
#: :meth:`Module.load` call them.
FILE_FORMAT: dict[str, Callable[..., Any]] = {}

# While a module runs, the top of this stack maps id(child module) -> the child's
# attribute path in that module; a child called by its parent looks itself up here
# to name its scope ("layers.0") instead of using its class name.
_child_names_stack: list[dict[int, str]] = []


class Module:
    """Base class of models: parameter discovery, ``zero_grad``, scopes, config.

    Subclasses define ``forward(self, *inputs)``; calling the module runs ``forward``
    inside the module's :func:`tapegrad.engine.scope`. Subclasses that want to be saved and
    rebuilt define :meth:`config`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODEL_REGISTRY[cls.__name__] = cls

    # -- calling ----------------------------------------------------------------
    def forward(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        names = _child_names_stack[-1] if _child_names_stack else None
        name = names.get(id(self)) if names else None
        child_names = self.__dict__.get("_child_names")
        if child_names is None:
            child_names = self._child_names = self._child_module_names()
            # Once per module (and after an attribute changes): tell the drawings
            # which leaves are this module's parameters (the w of G(x, w)).
            engine.mark_parameters(self.parameters())
        with engine.scope(name or type(self).__name__):
            _child_names_stack.append(child_names)
            try:
                return self.forward(*inputs, **kwargs)
            finally:
                _child_names_stack.pop()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        # A new public attribute may be a new child module: rename children on the next call.
        # (Changing a list in place, e.g. appending a layer, is not seen; the new child is then
        # scoped by its class name. Scopes only label the graph; results are unaffected.)
        if name[0] != "_":
            self.__dict__.pop("_child_names", None)

    def _child_module_names(self) -> dict[int, str]:
        """id -> attribute path of each direct child module (``layers.0``)."""
        out: dict[int, str] = {}
        for attr, value in vars(self).items():
            if attr[0] == "_":
                continue
            for name, item in _flatten(value, attr):
                if isinstance(item, Module):
                    out[id(item)] = name
        return out

    # -- parameters -------------------------------------------------------------
    def named_parameters(self) -> list[tuple[str, Value]]:
        """``(dotted name, Value)`` for every parameter, in a stable order.

        The order is the order attributes were assigned, lists in index order, each
        Value once (a Value shared by two attributes keeps its first name).
        """
        seen: set[int] = set()
        out: list[tuple[str, Value]] = []
        for name, value in _walk(self, ""):
            if id(value) not in seen:
                seen.add(id(value))
                out.append((name, value))
        return out

    def parameters(self) -> list[Value]:
        """Every parameter, in the order of :meth:`named_parameters`."""
        return [value for _, value in self.named_parameters()]

    def num_parameters(self) -> int:
        """How many scalar parameters the module has."""
        return len(self.named_parameters())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``prefix``) and every
        module inside it, depth first."""
        yield prefix, self
        for attr, value in vars(self).items():
            if attr[0] == "_":
                continue
            for name, item in _flatten(value, f"{prefix}.{attr}" if prefix else attr):
                if isinstance(item, Module):
                    yield from item.named_modules(name)

    def zero_grad(self) -> None:
        """Clear the gradient of every parameter (before each ``backward``), as PyTorch
        does: no gradient (None), which ``.grad`` reads as 0.0; the next ``backward``
        starts each sum at its first contribution (:meth:`Value.zero_grad
        <tapegrad.engine.Value.zero_grad>`)."""
        for p in self.parameters():
            p.grad = None

    # -- files ------------------------------------------------------------------
    def save(self, path) -> None:
        """Write this module to ``path`` as a safe JSON model file (:func:`tapegrad.nn.save`)."""
        _file_format("save")(self, path)

    @classmethod
    def load(cls, path) -> Module:
        """A new module of this class read from ``path`` (:func:`tapegrad.nn.load`); the file
        must hold this class. To load into an existing module, ``nn.load(path, model)``."""
        return _file_format("load")(path, cls=None if cls is Module else cls)

    # -- rebuilding -------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-safe dict: ``type(m)(**m.config())``
        builds the same architecture."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define config(), so it cannot be rebuilt or saved"
        )

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


def _file_format(name: str) -> Callable[..., Any]:
    function = FILE_FORMAT.get(name)
    if function is None:  # only if tapegrad.nn.serialize was never imported
        raise RuntimeError(f"Module.{name} needs tapegrad.nn.serialize: import tapegrad.nn")
    return function


def _flatten(value: Any, name: str) -> Iterator[tuple[str, Any]]:
    """``(name, item)`` for a value, or for each item of a (nested) list, tuple or
    dict -- a list item is named by its index, a dict item by its key, in order."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{name}.{key}")
    else:
        yield name, value


def _walk(module: Module, prefix: str) -> Iterator[tuple[str, Value]]:
    for attr, value in vars(module).items():
        if attr[0] == "_":
            continue
        for name, item in _flatten(value, prefix + attr):
            if isinstance(item, Value):
                yield name, item
            elif isinstance(item, Module):
                yield from _walk(item, name + ".")
