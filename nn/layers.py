"""Neurons, layers and multilayer perceptrons, compatible with micrograd.

A neuron computes a weighted sum of its inputs and passes it through a pointwise
non-linearity ``f``::

    s = b + Σ_i w_i x_i          z = f(s)

A :class:`Layer` is a list of neurons reading the same inputs; an :class:`MLP` is a
list of layers, each reading the previous one's outputs. The names, attributes
(``.w``, ``.b``, ``.nonlin``, ``.neurons``, ``.layers``), defaults (ReLU hidden
units, a linear last layer), call conventions (a layer or model with one output
returns a single Value) and the order in which weights are drawn are micrograd's,
so micrograd's demo runs unchanged apart from its imports, and after
``random.seed(1337)`` it gets micrograd's exact weights::

    >>> import random
    >>> from tapegrad.nn import MLP
    >>> random.seed(1337)
    >>> model = MLP(2, [16, 16, 1])
    >>> model
    MLP(2 -> 16 relu -> 16 relu -> 1 linear; 337 parameters)

Weights are drawn ``uniform(-1, 1)`` one neuron at a time, ``w_0 ... w_{n-1}`` in
order, and biases start at 0. Pass ``rng=random.Random(seed)`` to draw from a
private generator instead of Python's global one.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Mapping, Sequence, Set
from typing import Any

from tapegrad.engine import Value

from . import _checks
from .module import Module

__all__ = ["Neuron", "Layer", "MLP", "ACTIVATIONS"]

#: The non-linearities a neuron can apply to its weighted sum, by name.
ACTIVATIONS = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "sign": Value.sign,
    "linear": None,
}

# Display names in micrograd's style (``ReLUNeuron(2)``).
_TITLES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "sign": "Sign", "linear": "Linear"}


def _check_activation(activation: object) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}"
        )
    return activation


def check_inputs(x: Sequence[object], n: int, owner: object) -> Sequence[object]:
    """Return ``x`` if it is a sequence of ``n`` numbers or Values, else raise.

    Strings, single numbers and single Values are refused with a ``TypeError``, and
    so are sets and dicts (no order, or keys that are not the inputs); a wrong length
    is a ``ValueError`` -- never silent truncation, as ``zip`` would do. ``owner``
    (a module) names the culprit in the message.
    """
    if type(x) is not list and (  # a list is the common case: skip the ABC checks
        isinstance(x, (str, bytes, Value, numbers.Number, Set, Mapping))
        or not hasattr(x, "__len__")
    ):
        raise TypeError(
            f"{owner} expects a sequence of {n} numbers or Values, got {type(x).__name__}: {x!r}"
        )
    if len(x) != n:
        raise ValueError(f"{owner} expects {n} inputs, got {len(x)}")
    for xi in x:
        if type(xi) is float or type(xi) is Value:
            continue
        if isinstance(xi, bool) or not isinstance(xi, (numbers.Real, Value)):
            raise TypeError(
                f"{owner} expects numbers or Values as inputs, got {type(xi).__name__}: {xi!r}"
            )
    return x


class Neuron(Module):
    """One unit: ``z = f(b + Σ_i w_i x_i)``.

    ``nonlin=True`` (micrograd's switch) means ReLU and ``nonlin=False`` linear;
    ``activation=`` picks any of :data:`ACTIVATIONS` by name and overrides it.
    """

    def __init__(
        self,
        nin: int,
        nonlin: bool = True,
        activation: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        nin = _checks.count(nin, "nin")
        if not isinstance(nonlin, bool):
            raise TypeError(f"nonlin must be a bool, got {type(nonlin).__name__}: {nonlin!r}")
        if activation is None:
            activation = "relu" if nonlin else "linear"
        activation = _check_activation(activation)
        if not nonlin and activation != "linear":
            raise ValueError(f"nonlin=False contradicts activation={activation!r}")
        source = _checks.random_source(rng)
        self.w = [Value(source.uniform(-1, 1), label=f"w{i}") for i in range(nin)]
        self.b = Value(0.0, label="b")
        self.nonlin = activation != "linear"
        self.activation = activation
        self._f = ACTIVATIONS[activation]

    def forward(self, x: Sequence) -> Value:
        check_inputs(x, len(self.w), self)
        # b + w0*x0 + w1*x1 + ...: micrograd's order of additions, so sums round alike.
        s = self.b
        for wi, xi in zip(self.w, x):
            s = s + wi * xi
        return s if self._f is None else self._f(s)

    def config(self) -> dict[str, Any]:
        return {"nin": len(self.w), "activation": self.activation}

    def __repr__(self) -> str:
        return f"{_TITLES[self.activation]}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs; keyword arguments go to each
    :class:`Neuron`. Returns a list of ``nout`` Values, or one Value if ``nout == 1``."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        nin = _checks.count(nin, "nin")
        nout = _checks.count(nout, "nout")
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def forward(self, x: Sequence) -> Value | list[Value]:
        check_inputs(x, len(self.neurons[0].w), self)
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    @property
    def activation(self) -> str:
        return self.neurons[0].activation

    def config(self) -> dict[str, Any]:
        nin, nout = len(self.neurons[0].w), len(self.neurons)
        return {"nin": nin, "nout": nout, "activation": self.activation}

    def __repr__(self) -> str:
        return f"Layer({len(self.neurons[0].w)} -> {len(self.neurons)}, {self.activation})"


class MLP(Module):
    """A multilayer perceptron: ``MLP(2, [16, 16, 1])`` maps 2 inputs through two
    hidden layers of 16 units to 1 output.

    Hidden layers use ``activation`` (ReLU by default) and the last layer
    ``output_activation`` (linear by default), as in micrograd.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        output_activation: str = "linear",
        rng: random.Random | None = None,
    ) -> None:
        nin = _checks.count(nin, "nin")
        if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence):
            raise TypeError(
                f"nouts must be a list of layer sizes, got {type(nouts).__name__}: {nouts!r}"
            )
        if not nouts:
            raise ValueError("nouts must list at least one layer size, got []")
        sizes = [nin] + [_checks.count(n, "each layer size in nouts") for n in nouts]
        _check_activation(activation)
        _check_activation(output_activation)
        _checks.random_source(rng)
        last = len(nouts) - 1
        self.layers = [
            Layer(
                sizes[i],
                sizes[i + 1],
                activation=output_activation if i == last else activation,
                rng=rng,
            )
            for i in range(len(nouts))
        ]

    def forward(self, x: Sequence) -> Value | list[Value]:
        check_inputs(x, len(self.layers[0].neurons[0].w), self)
        out: Value | list[Value] = self.layers[0](x)
        for layer in self.layers[1:]:
            # a one-unit hidden layer returned a bare Value
            out = layer([out] if isinstance(out, Value) else out)
        return out

    def config(self) -> dict[str, Any]:
        return {
            "nin": len(self.layers[0].neurons[0].w),
            "nouts": [len(layer.neurons) for layer in self.layers],
            "activation": self.layers[0].activation if len(self.layers) > 1 else "relu",
            "output_activation": self.layers[-1].activation,
        }

    def __repr__(self) -> str:
        parts = [str(len(self.layers[0].neurons[0].w))]
        parts += [f"{len(layer.neurons)} {layer.activation}" for layer in self.layers]
        return f"MLP({' -> '.join(parts)}; {self.num_parameters()} parameters)"
