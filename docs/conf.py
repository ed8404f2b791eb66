"""Sphinx configuration of tapegrad's documentation site.

Build it as the test suite does (``tests/test_docs.py``), warnings as errors::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

The pages are Markdown (MyST); the API reference (``api.rst``) is generated from the
docstrings of every public module of ``tapegrad.engine`` and ``tapegrad.nn``: at each
build, :func:`write_api_pages` writes one page per module into ``docs/api/`` (which git
ignores), so a new module is documented without editing anything here.
"""

import importlib
import inspect
import pkgutil
import re
import sys
from importlib import metadata
from pathlib import Path

project = "tapegrad"
author = "tapegrad developers"
copyright = "2026, tapegrad developers (MIT License)"
release = metadata.version("tapegrad")
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "gallery/*.py"]
templates_path = ["_templates"]

# `#section` links and `page.md#section` links resolve to headings, as on GitHub.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

autodoc_member_order = "bysource"
autodoc_mock_imports = ["torch"]  # engine/torch_module.py: documented without torch
autodoc_inherit_docstrings = False  # graphviz's own docstrings are not tapegrad's API
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}

html_theme = "alabaster"
html_title = f"tapegrad {release}"
html_theme_options = {"description": "a tape-based scalar autograd engine for teaching"}

# -- references ------------------------------------------------------------------
# Every cross-reference must resolve (nitpicky: a renamed function fails the build),
# except into libraries whose inventories are not here (no network in CI): the
# standard library and tapegrad's dependencies.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(collections|typing|types|random|os|io|ast|string|enum|json|pathlib|argparse|weakref"
        r"|contextlib|numbers|numpy|np|graphviz|matplotlib|hypothesis|ipywidgets|tqdm|torch)"
        r"(\..*)?",
    ),
    # private names (``_render``, ``_Masked``): pointers for readers of the source,
    # deliberately not part of the API reference
    (r"py:.*", r"(.*\.)?_[A-Za-z]\w*(\..*)?"),
    # attributes: most are set in __init__ or by a dataclass, where autodoc cannot see
    # them; functions, methods, classes, modules and data must all resolve
    (r"py:attr", r".*"),
]

# -- the API reference -----------------------------------------------------------
PACKAGES = ["tapegrad.engine", "tapegrad.nn"]
API = Path(__file__).parent / "api"
API_MODULES: list[str] = []  # filled by write_api_pages


def public_modules() -> list[str]:
    """Every module of the packages whose dotted name has no ``_`` part (``__main__``
    and ``_render`` are not API), packages first, in alphabetical order."""
    from sphinx.ext.autodoc.mock import mock

    names = []
    with mock(autodoc_mock_imports):
        names += _walk()
    return sorted(names)


def _walk() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, prefix=package + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


def write_api_pages(app=None) -> None:
    """One page per module: a package's docstring and its modules; a module's docstring
    and every public member it defines (as its ``__all__`` lists them)."""
    API.mkdir(exist_ok=True)
    for stale in API.glob("*.rst"):
        stale.unlink()
    from sphinx.ext.autodoc.mock import mock

    names = public_modules()
    API_MODULES[:] = names
    with mock(autodoc_mock_imports):
        modules = {name: importlib.import_module(name) for name in names}
    for name in names:
        module = modules[name]  # the module, even if the package has a
        # function of the same name (tapegrad.engine.vmap, .tape, .gradcheck)
        lines = [name, "=" * len(name), "", f".. automodule:: {name}"]
        if hasattr(module, "__path__"):
            lines += ["   :no-members:", ""]
            # public names defined in the package itself (nn.commands.UsageError) or in a
            # private module (engine._costs) are documented here, where users import them
            elsewhere = {
                id(getattr(m, n))
                for m in modules.values()
                if not hasattr(m, "__path__")
                for n in getattr(m, "__all__", ())
            }
            for member in getattr(module, "__all__", ()):
                obj = getattr(module, member)
                home = getattr(obj, "__module__", "") or ""
                defined_here = home == name or home.startswith(name + "._")
                if defined_here and callable(obj) and id(obj) not in elsewhere:
                    kind = "autoclass" if inspect.isclass(obj) else "autofunction"
                    lines += [f".. {kind}:: {name}.{member}", ""]
            children = [n for n in names if n.rpartition(".")[0] == name]
            lines += [".. toctree::", "   :maxdepth: 1", ""]
            lines += [f"   {child}" for child in children]
        (API / f"{name}.rst").write_text("\n".join(lines) + "\n")


def _escape_bars(app, what, name, obj, options, lines):
    """``|x|`` in a docstring is an absolute value (the op table's docs), never a
    reStructuredText substitution: escape it."""
    lines[:] = [re.sub(r"(?<!\\)\|([^|\s`][^|`]*)\|", r"\\|\1\\|", line) for line in lines]


def _locate(name: str):
    """The object a dotted name reaches by importing its longest module prefix, or None."""
    from sphinx.ext.autodoc.mock import mock

    with mock(autodoc_mock_imports):
        return _import_and_get(name)


def _import_and_get(name: str):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(obj, found_as: str) -> str | None:
    """Where the API reference documents ``obj``: the module that defines it."""
    if inspect.ismodule(obj):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and "<locals>" not in qualname:
        if any(part.startswith("_") for part in module.split(".")):
            return found_as  # defined privately, documented where it is re-exported
        return f"{module}.{qualname}"
    last = found_as.rsplit(".", 1)[-1]  # data (OPS, ACTIVATIONS): the defining module
    for name, mod in sorted(sys.modules.items()):
        if name.startswith("tapegrad.") and not hasattr(mod, "__path__"):
            if vars(mod).get(last) is obj and last in getattr(mod, "__all__", ()):
                return f"{name}.{last}"
    return found_as


def _resolve_reexports(app, env, node, contnode):
    """Resolve ``:class:`Value``` written in ``tapegrad.engine``'s docstring, or
    ``tapegrad.nn.MLP``: names re-exported or written short, which Sphinx looks for
    in the wrong module. Each is looked up by importing it and linked where the
    module that defines it documents it; a name that imports nowhere stays broken."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    scopes = [f"{module}.{cls}" if module and cls else None, module]
    scopes += ["tapegrad.engine", "tapegrad.nn", "tapegrad", None]
    # a short name from a sibling module (``BatchedProgram`` in lift.program's docstring)
    first = target.split(".")[0]
    scopes += [
        name
        for name, mod in sorted(sys.modules.items())
        if name.startswith("tapegrad.")
        and not name.rsplit(".", 1)[-1].startswith("_")
        and first in vars(mod)
    ]
    domain = env.get_domain("py")
    for scope in scopes:
        name = f"{scope}.{target}" if scope else target
        if not name.startswith("tapegrad."):
            continue
        obj = _locate(name)
        if obj is None:
            continue
        # where it is defined, else where it was found (a method that a decorator of a
        # mocked library, @torch.no_grad(), hides)
        for where in dict.fromkeys([_canonical(obj, name), name]):
            for reftype in (node["reftype"], "obj"):
                found = domain.resolve_xref(
                    env, node["refdoc"], app.builder, reftype, where, node, contnode
                )
                if found is not None:
                    return found
    return None


def setup(app):
    app.connect("builder-inited", write_api_pages)
    app.connect("autodoc-process-docstring", _escape_bars)
    app.connect("missing-reference", _resolve_reexports)
