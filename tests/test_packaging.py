"""Packaging: everything importable from a checkout is also in the installed wheel."""

from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, vendored by pip
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed_for_setuptools():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("engine", "nn")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk == listed


def test_the_console_script_points_at_a_real_function():
    target = pyproject()["project"]["scripts"]["tapegrad"]
    module, _, function = target.partition(":")
    imported = __import__(module, fromlist=[function])
    assert callable(getattr(imported, function))
