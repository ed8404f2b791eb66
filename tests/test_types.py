"""mypy over engine/ and nn/ with pyproject.toml's ``[tool.mypy]``: zero errors.

pyproject's ``[tool.mypy]`` sets the strictness (docs/development.md says what it
checks and why). The packages are checked as what they install as,
``tapegrad.engine`` and ``tapegrad.nn``: mypy cannot follow the editable install
(setuptools maps ``engine/`` to ``tapegrad.engine`` with an import hook, and static
checkers run no import hooks), so the check copies the two folders into that shape under
``.mypy_cache/layout/`` and reports its findings with the repository's paths. mypy's
cache is ``.mypy_cache/`` at the root (git ignores it): about 20 s the first time on
this project's machine, under a second after.

Run it alone with ``python -m pytest tests/test_types.py``, or ``python
tests/test_types.py`` to print mypy's report whatever it says.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".mypy_cache"
LAYOUT = CACHE / "layout"
# the repository's folders and the packages they install as (pyproject's package-dir)
PACKAGES = {"engine": "tapegrad.engine", "nn": "tapegrad.nn"}


def _lay_out() -> None:
    """Copy engine/ and nn/ to LAYOUT/tapegrad/ (a fresh copy each run; times kept, so
    mypy's cache still knows the unchanged files)."""
    if LAYOUT.exists():
        shutil.rmtree(LAYOUT)
    for folder, package in PACKAGES.items():
        shutil.copytree(
            ROOT / folder,
            LAYOUT.joinpath(*package.split(".")),
            ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"),
        )


def run_mypy() -> tuple[str, int]:
    """mypy's report (with the repository's paths) and its exit status: 0 when clean,
    1 for errors, 2 when mypy itself failed (a bad configuration, say). In a process
    of its own: mypy changes the interpreter's recursion limit and garbage collector."""
    _lay_out()
    config = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(CACHE)]
    packages = [arg for package in PACKAGES.values() for arg in ("-p", package)]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *config, *packages],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": str(LAYOUT)},
    )
    out, err, status = done.stdout, done.stderr, done.returncode
    # mypy names the copies however it found them (absolute, or relative to where it
    # ran): every ".../layout/tapegrad/<folder>/" becomes "<folder>/"
    copies = re.compile(r"[^\s:]*\blayout[/\\]tapegrad[/\\](" + "|".join(PACKAGES) + r")[/\\]")
    return copies.sub(r"\1/", out + err), status


def test_mypy_finds_no_error():
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: install the test extra (pip install -e '.[test]')")
    report, status = run_mypy()
    assert status == 0, f"mypy (exit {status}) over engine/ and nn/:\n{report}"
    assert report.startswith("Success: no issues found"), report


if __name__ == "__main__":
    report, status = run_mypy()
    print(report, end="")
    sys.exit(status)
