"""Save and load models as plain JSON data: safe, atomic, validated.

A model file holds *data only*: a format name, a version, the model's class name,
its constructor arguments and its parameters by dotted name::

    {
      "format": "tapegrad-model",
      "version": 1,
      "class": "MLP",
      "config": {"nin": 2, "nouts": [16, 16, 1], ...},
      "parameters": {
        "layers.0.neurons.0.w.0": 0.23550571390294128,
        ...
      }
    }

Parameters are written in :meth:`Module.named_parameters` order with Python's
shortest round-tripping float repr, so ``load(save(m))`` restores every float bit
for bit (``-0.0`` and subnormals included).

**Saving** refuses a model with a non-finite parameter (``ValueError`` naming it,
nothing written), and writes atomically: the text goes to a temporary file in the
same directory, is flushed and ``fsync``-ed, and then ``os.replace`` puts it in
place in one step, so a crash leaves either the old file or the new one, never half
of one.

**Loading** never executes anything from the file: no ``pickle``, no ``eval``, no
import. The file's class name is only looked up in :data:`tapegrad.nn.module.MODEL_REGISTRY`
(the :class:`~nn.module.Module` subclasses already defined), and its config only
ever reaches that class's constructor as keyword arguments. Everything is checked
before any parameter is assigned, and every problem with a file -- missing, empty,
larger than :data:`MAX_FILE_BYTES`, truncated, not JSON, binary (a pickle renamed
``.json``), duplicate keys, ``NaN``/``Infinity`` or numbers out of float range,
wrong format or version, unknown class, a config or parameter set that does not
match the model, non-numeric values (booleans and strings included) -- raises
:class:`ModelFileError`, a ``ValueError``, whose message names the problem. The
model passed to :func:`load` is then left exactly as it was.

What a file *can* do is choose a registered class and its constructor arguments. A
small hostile file could so ask for a model too large for memory: for the built-in
classes the size its config describes is checked against the parameters the file
lists before anything is built. Loading into a given ``model`` never calls a
constructor.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import tempfile
from typing import Any

# Importing the model modules registers their classes, so a file naming a built-in
# model loads even when nothing else imported it.
from . import classic, energy, layers
from .module import FILE_FORMAT, MODEL_REGISTRY, Module

__all__ = [
    "FORMAT",
    "VERSION",
    "MAX_FILE_BYTES",
    "ModelFileError",
    "save",
    "load",
    "dumps",
    "loads",
]

#: The ``"format"`` field of every tapegrad model file.
FORMAT = "tapegrad-model"
#: The version of the layout this module writes and reads.
VERSION = 1
#: Files larger than this (64 MiB: at about 50 bytes a line, over a million parameters)
#: are refused before they are read.
MAX_FILE_BYTES = 64 * 1024 * 1024

#: Loading builds a model from a file's config only if it has at most this many
#: parameters more than the file lists (checked before building, for built-in classes).
BUILD_SLACK = 10_000

_KEYS = ("format", "version", "class", "config", "parameters")
_PICKLE_PROTOCOL_BYTES = frozenset(range(2, 6))


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message says why (and where)."""


# -- saving -------------------------------------------------------------------------


def _check_module(model: object, what: str) -> Module:
    if not isinstance(model, Module):
        raise TypeError(f"{what} expects an nn.Module, got {type(model).__name__}: {model!r}")
    return model


def _config_of(model: Module) -> dict[str, Any]:
    try:
        config = model.config()
    except NotImplementedError:
        raise TypeError(
            f"{type(model).__name__} does not define config(), so it cannot be saved"
        ) from None
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__}.config() must return a dict, got {config!r}")
    try:
        return json.loads(json.dumps(config, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{type(model).__name__}.config() is not JSON-safe ({e}): {config!r}"
        ) from None


def dumps(model: Module) -> str:
    """The JSON text :func:`save` writes for ``model``.

    Raises ``ValueError`` naming the first non-finite parameter, ``TypeError`` if the
    model cannot be described as data (no ``config()``, or a class that is not the
    one registered under its name).
    """
    model = _check_module(model, "save")
    name = type(model).__name__
    if MODEL_REGISTRY.get(name) is not type(model):
        raise ValueError(
            f"the class {name} registered in nn.MODEL_REGISTRY is not this model's class, "
            "so a file naming it would load as a different model"
        )
    parameters: dict[str, float] = {}
    for pname, p in model.named_parameters():
        if not math.isfinite(p.data):
            raise ValueError(f"cannot save {name}: parameter {pname!r} is {p.data!r}")
        parameters[pname] = p.data
    document = {
        "format": FORMAT,
        "version": VERSION,
        "class": name,
        "config": _config_of(model),
        "parameters": parameters,
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def save(model: Module, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` as a tapegrad model file, atomically.

    The text goes to a temporary file beside ``path``, is flushed and fsync-ed, and
    replaces ``path`` in one ``os.replace``. A new file gets mode ``0o644``; an
    existing one keeps its mode (a symlink at ``path`` is replaced by the file, not
    followed). Nothing is written if the model has a non-finite parameter
    (``ValueError``); filesystem failures raise ``OSError`` and leave any existing
    file as it was.
    """
    path = _check_path(path)
    data = dumps(model).encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_path(path: object) -> str:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a text path, got {path!r}")
    if not path:
        raise ValueError("path is empty: give a file name such as 'model.json'")
    return path


# -- loading -------------------------------------------------------------------------


def load(
    path: str | os.PathLike, model: Module | None = None, *, cls: type | None = None
) -> Module:
    """Read a model file and return the model.

    With ``model``, the file must describe the same architecture (class and config)
    with exactly the same parameter names; its parameters are assigned into
    ``model`` (gradients are not touched) and ``model`` is returned. Without it, the
    class is looked up by name in :data:`tapegrad.nn.MODEL_REGISTRY` and built from the saved
    config (Python's global ``random`` state is restored afterwards, so loading does
    not disturb a seeded program). ``cls``, if given, is the class the file must
    hold.

    Any problem with the file raises :class:`ModelFileError`, and ``model`` is left
    unchanged.
    """
    path = _check_path(path)
    if model is not None:
        _check_module(model, "load")
    raw = _read_limited(path)
    return _load_bytes(raw, model, cls, source=path)


def loads(text: str | bytes, model: Module | None = None, *, cls: type | None = None) -> Module:
    """:func:`load` from JSON text (or bytes) already in memory."""
    if isinstance(text, str):
        raw = text.encode("utf-8")
    elif isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
    else:
        raise TypeError(f"loads expects str or bytes, got {type(text).__name__}")
    if model is not None:
        _check_module(model, "loads")
    if len(raw) > MAX_FILE_BYTES:
        raise ModelFileError(f"model text is {len(raw)} bytes, over the limit of {MAX_FILE_BYTES}")
    return _load_bytes(raw, model, cls, source="<text>")


def _read_limited(path: str) -> bytes:
    """The file's bytes, refusing it before reading if it is over the size limit."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ModelFileError(
                    f"{path}: file is {size} bytes, over the limit of {MAX_FILE_BYTES} bytes"
                )
            # Read one byte past the limit: the size reported for pipes and special
            # files is not to be trusted.
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: file is over the limit of {MAX_FILE_BYTES} bytes")
    return raw


def _load_bytes(raw: bytes, model: Module | None, cls: type | None, source: str) -> Module:
    document = _parse(raw, source)
    target_cls, config = _check_header(document, model, cls, source)
    values = document["parameters"]
    if not isinstance(values, dict):
        raise ModelFileError(
            f"{source}: 'parameters' must be an object of name: number, got {_json_type(values)}"
        )
    checked = {name: _check_number(name, v, source) for name, v in values.items()}
    if model is None:
        # A model a little larger than the file is cheap to build, and the name check
        # below then says which parameters are missing; a much larger one is refused
        # by count, before it can exhaust memory.
        least = _least_parameters(target_cls, config)
        if least > len(checked) + BUILD_SLACK:
            raise ModelFileError(
                f"{source}: config {json.dumps(config)} builds a {target_cls.__name__} with at "
                f"least {least} parameters, but the file lists {len(checked)}"
            )
        model = _build(target_cls, config, source)
    expected = model.named_parameters()
    _check_names([n for n, _ in expected], list(checked), source)
    # Everything is valid: only now does anything change.
    for name, p in expected:
        p.data = checked[name]
    return model


def _parse(raw: bytes, source: str) -> Any:
    if not raw:
        raise ModelFileError(f"{source}: file is empty")
    if raw[0] == 0x80 and len(raw) > 1 and raw[1] in _PICKLE_PROTOCOL_BYTES:
        raise ModelFileError(
            f"{source}: this is a Python pickle, not a tapegrad model file; tapegrad never "
            "loads pickles (they can run arbitrary code)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(
            f"{source}: not a tapegrad model file: binary data, not UTF-8 text (byte {e.start})"
        ) from None
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as e:
        truncated = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        hint = " (the file looks truncated)" if truncated else ""
        raise ModelFileError(
            f"{source}: not valid JSON{hint}: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None
    except RecursionError:
        raise ModelFileError(f"{source}: JSON is nested too deeply") from None
    except ModelFileError as e:
        raise ModelFileError(f"{source}: {e}") from None
    except ValueError as e:  # e.g. an integer literal with thousands of digits
        raise ModelFileError(f"{source}: not valid JSON: {e}") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ModelFileError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ModelFileError(f"non-finite number {name} (model files hold finite numbers only)")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"{type(value).__name__} {value!r}"


def _check_header(
    document: Any, model: Module | None, cls: type | None, source: str
) -> tuple[type, dict[str, Any]]:
    if not isinstance(document, dict):
        raise ModelFileError(
            f"{source}: not a tapegrad model file: the top level is {_json_type(document)}, "
            "not an object"
        )
    fmt = document.get("format")
    if fmt != FORMAT:
        if "format" not in document:
            raise ModelFileError(f"{source}: not a tapegrad model file: no 'format' field")
        raise ModelFileError(
            f"{source}: not a tapegrad model file: format is {fmt!r}, expected {FORMAT!r}"
        )
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != VERSION:
        raise ModelFileError(
            f"{source}: unsupported version {json.dumps(version)} (this tapegrad reads "
            f"version {VERSION})"
        )
    missing = [k for k in _KEYS if k not in document]
    if missing:
        raise ModelFileError(f"{source}: missing field(s) {', '.join(map(repr, missing))}")
    unknown = [k for k in document if k not in _KEYS]
    if unknown:
        raise ModelFileError(f"{source}: unknown field(s) {', '.join(map(repr, unknown))}")

    name = document["class"]
    if not isinstance(name, str):
        raise ModelFileError(f"{source}: 'class' must be a string, got {_json_type(name)}")
    # Private helper classes ("_EnergyModel") register too, but are not models.
    if name not in MODEL_REGISTRY or name.startswith("_"):
        known = ", ".join(sorted(n for n in MODEL_REGISTRY if not n.startswith("_"))) or "none"
        raise ModelFileError(f"{source}: unknown model class {name!r} (known: {known})")
    target = MODEL_REGISTRY[name]
    if cls is not None and not (isinstance(cls, type) and issubclass(target, cls)):
        raise ModelFileError(
            f"{source}: the file holds a {name}, not a {getattr(cls, '__name__', cls)}"
        )
    config = document["config"]
    if not isinstance(config, dict):
        raise ModelFileError(f"{source}: 'config' must be an object, got {_json_type(config)}")

    if model is not None:
        if type(model).__name__ != name:
            raise ModelFileError(
                f"{source}: the file holds a {name}, but the model is a {type(model).__name__}"
            )
        own = _config_of(model)
        if own != config:
            raise ModelFileError(
                f"{source}: architecture mismatch: the file's {name} has config "
                f"{json.dumps(config)}, the model's is {json.dumps(own)}"
            )
    return target, config


def _check_number(name: str, value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFileError(f"{source}: parameter {name!r} is {_json_type(value)}, not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ModelFileError(f"{source}: parameter {name!r} is out of float range: {value!r}")
    return number


def _size(value: Any) -> int:
    """A config's positive int, else 0 (the constructor will refuse it)."""
    return value if type(value) is int and value > 0 else 0


def _least_parameters(target: type, config: dict[str, Any]) -> int:
    """How many parameters a built-in class at least builds from ``config``, worked
    out without building it (0 for other classes): a file listing fewer cannot match,
    and building first would let ``{"nin": 1000000000}`` exhaust memory."""
    nin = _size(config.get("nin"))
    if target is layers.MLP:
        nouts = config.get("nouts")
        if nin and isinstance(nouts, list) and nouts and all(_size(n) for n in nouts):
            sizes = [nin, *nouts]
            return sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    elif target is layers.Layer:
        return (nin + 1) * _size(config.get("nout")) if nin else 0
    elif target is layers.Neuron or target in _LINEAR_UNITS:
        return nin + 1 if nin else 0
    elif target is energy.Hopfield or target is energy.BoltzmannMachine:
        n = _size(config.get("n"))
        return n * (n - 1) // 2
    return 0


_LINEAR_UNITS = (
    classic.LinearUnit,
    classic.Perceptron,
    classic.Adaline,
    classic.LogisticRegression,
)


def _build(target: type, config: dict[str, Any], source: str) -> Module:
    # Constructors draw initial weights from Python's global random (micrograd's
    # behaviour); loading must not move a seeded program's random stream.
    state = random.getstate()
    try:
        return target(**config)
    except (TypeError, ValueError, OverflowError) as e:
        raise ModelFileError(
            f"{source}: config {json.dumps(config)} does not build a {target.__name__}: {e}"
        ) from None
    finally:
        random.setstate(state)


def _check_names(expected: list[str], found: list[str], source: str) -> None:
    expected_set, found_set = set(expected), set(found)
    missing = [n for n in expected if n not in found_set]
    extra = [n for n in found if n not in expected_set]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} parameter(s): {_some(missing)}")
        if extra:
            parts.append(f"unexpected {len(extra)} parameter(s): {_some(extra)}")
        raise ModelFileError(f"{source}: parameters do not match the model: {'; '.join(parts)}")


def _some(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


# Module.save and Module.load call these (module.py cannot import this module, which
# imports it).
FILE_FORMAT.update(save=save, load=load)
