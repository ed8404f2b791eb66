"""Finding a Graphviz ``dot`` program, so that images need nothing but ``pip``.

The ``graphviz`` Python package writes DOT text itself and runs a ``dot`` program
only to turn that text into an image. It looks for ``dot`` on ``PATH``. tapegrad
adds one more place to look: the ``graphviz-pure`` wheel, a self-contained build of
``dot`` that pip installs as the command ``graphviz-pure`` in the environment's
scripts directory -- which is *not* on ``PATH`` when the environment is used without
being activated (``.venv/bin/python notebook.py``, a Jupyter kernel started by path).

The search order is

1. whatever ``graphviz.backend.dot_command.DOT_BINARY`` was set to by the user,
2. a system ``dot`` on ``PATH`` (full Graphviz: every output format, native PDF),
3. ``graphviz-pure``: on ``PATH``, next to ``sys.executable``, in this
   interpreter's scripts directories, or where the installed distribution's file list
   says it is.

:func:`use_dot` points the ``graphviz`` package at the binary found, so that
``.render()``, ``.pipe()`` and inline display in Jupyter all work.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import os
import pathlib
import shutil
import sys
import sysconfig
from typing import Literal, overload

__all__ = ["DotNotFoundError", "find_dot", "use_dot", "INSTALL_HINT"]

INSTALL_HINT = (
    "rendering an image needs Graphviz's `dot` program: `pip install graphviz-pure` "
    "(a self-contained dot for Linux, macOS and Windows on x86-64 and ARM64) or install "
    "Graphviz (https://graphviz.org/download/: apt install graphviz, brew install graphviz, "
    "conda install graphviz); DOT text (.dot, .gv) needs neither"
)

_PURE = "graphviz-pure"


class DotNotFoundError(RuntimeError):
    """No ``dot`` program was found; the message says what to install."""


def _exe_names(stem: str) -> list[str]:
    return [stem + ".exe", stem] if os.name == "nt" else [stem]


def _pure_candidates() -> list[pathlib.Path]:
    """Every place pip may have put the ``graphviz-pure`` command, most likely first."""
    dirs: list[pathlib.Path] = [pathlib.Path(sys.executable).parent]
    for scheme in (None, f"{os.name}_user"):
        try:
            path = (
                sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            )
        except KeyError:
            continue
        if path:
            dirs.append(pathlib.Path(path))
    out = [d / name for d in dirs for name in _exe_names(_PURE)]
    try:
        files = importlib.metadata.distribution(_PURE).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if pathlib.PurePath(f).name in _exe_names(_PURE):
            out.append(pathlib.Path(f.locate()))
    return out


def find_dot() -> tuple[str, str] | None:
    """``(path, kind)`` of the ``dot`` program to use, or None if there is none.

    ``kind`` is ``"configured"`` (the user set ``graphviz``'s ``DOT_BINARY``),
    ``"system"`` (Graphviz's ``dot`` on ``PATH``) or ``"graphviz-pure"``.
    """
    from graphviz.backend import dot_command

    configured = pathlib.Path(dot_command.DOT_BINARY)
    if str(configured) != "dot" and not _is_pure(configured):
        return str(configured), "configured"
    system = shutil.which("dot")
    if system:
        return system, "system"
    on_path = shutil.which(_PURE)
    if on_path:
        return on_path, _PURE
    for candidate in _pure_candidates():
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate), _PURE
    return None


def _is_pure(path: pathlib.Path) -> bool:
    return path.name in _exe_names(_PURE)


@overload
def use_dot(required: Literal[True] = True) -> tuple[str, str]: ...
@overload
def use_dot(required: bool) -> tuple[str, str] | None: ...
def use_dot(required: bool = True) -> tuple[str, str] | None:
    """Point the ``graphviz`` package at the ``dot`` :func:`find_dot` finds.

    Returns ``(path, kind)``. When nothing is found, raises :class:`DotNotFoundError`
    if ``required``, else returns None and changes nothing.
    """
    from graphviz.backend import dot_command

    found = find_dot()
    if found is None:
        if required:
            raise DotNotFoundError(INSTALL_HINT)
        return None
    path, kind = found
    if kind != "configured":
        dot_command.DOT_BINARY = pathlib.Path(path)
    return found


# -- micrograd's own drawing code ------------------------------------------------
# Code that builds a graphviz.Digraph itself (micrograd's draw_dot, the lecture's)
# never calls use_dot. So that it finds the bundled dot once tapegrad is imported,
# without importing graphviz with the engine (it costs as much as the engine's own
# import), a finder on sys.meta_path waits for graphviz's dot_command module and
# points it at the dot program right after it loads.

_DOT_MODULE = "graphviz.backend.dot_command"


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        try:
            use_dot(required=False)
        except Exception:
            pass


class _Finder:
    """Wraps the loader of ``graphviz.backend.dot_command`` (see above)."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != _DOT_MODULE:
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Make the ``graphviz`` package find a ``dot`` (system or ``graphviz-pure``) when
    it is imported, or now if it already is. Idempotent; changes nothing when the
    user configured ``DOT_BINARY`` or a system Graphviz is on PATH."""
    if _DOT_MODULE in sys.modules:
        use_dot(required=False)
    elif _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)
