"""Packaging: everything importable from a checkout is also in the installed wheel, and
tapegrad installs as ``tapegrad.engine`` / ``tapegrad.nn`` so a student's own
``engine.py`` or ``nn.py`` never shadows it; the wheel and the sdist carry the license;
the sdist carries the whole suite; ``tapegrad --version`` and ``python -m tapegrad``
work from a wheel install and from an editable one."""

import fnmatch
import os
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

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
        ".".join(("tapegrad", *init.parent.relative_to(ROOT).parts))
        for top in ("engine", "nn")
        for init in (ROOT / top).rglob("__init__.py")
    }
    # ...plus the namespace package itself, which holds only __main__.py
    assert on_disk | {"tapegrad"} == listed


def test_the_console_script_points_at_a_real_function():
    target = pyproject()["project"]["scripts"]["tapegrad"]
    module, _, function = target.partition(":")
    imported = __import__(module, fromlist=[function])
    assert callable(getattr(imported, function))


def test_folders_map_to_tapegrad_namespace():
    dirs = pyproject()["tool"]["setuptools"]["package-dir"]
    assert dirs == {"tapegrad": "nn/_toplevel", "tapegrad.engine": "engine", "tapegrad.nn": "nn"}
    # tapegrad stays a namespace package: its folder holds __main__.py and nothing else
    assert sorted(p.name for p in (ROOT / "nn/_toplevel").iterdir() if p.suffix == ".py") == [
        "__main__.py"
    ]


def test_one_copy_of_each_module_per_process():
    # The suite imports tapegrad only by its installed names; the flat folder names
    # ``engine`` and ``nn`` must never be loaded as tapegrad's modules beside them.
    import tapegrad.engine
    import tapegrad.nn

    for flat in ("engine", "nn"):
        module = sys.modules.get(flat)
        if module is not None:
            assert getattr(module, "__file__", None) != getattr(
                sys.modules[f"tapegrad.{flat}"], "__file__", None
            ), f"{flat!r} and 'tapegrad.{flat}' are both loaded from the same files"
    loaded = [name for name in sys.modules if name.split(".")[0] in ("engine", "nn")]
    assert loaded == [], f"flat imports of tapegrad's folders: {loaded}"
    assert tapegrad.engine.Value is tapegrad.nn.MLP(1, [1]).parameters()[0].__class__


def test_a_students_own_engine_and_nn_files_do_not_shadow_tapegrad(tmp_path):
    # A homework folder following micrograd holds its own engine.py and nn.py.
    (tmp_path / "engine.py").write_text("WHO = 'student engine'\n")
    (tmp_path / "nn.py").write_text("WHO = 'student nn'\n")
    script = textwrap.dedent(
        """
        import engine, nn
        from tapegrad.engine import Value
        from tapegrad.nn import MLP
        model = MLP(2, [3, 1])
        out = model([Value(1.0), Value(-2.0)])
        out.backward()
        print(engine.WHO, '|', nn.WHO, '|', type(out).__module__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "student engine | student nn | tapegrad.engine.value"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The sdist, and the wheel ``python -m build`` makes from that sdist (so the sdist
    is proven to build), as a user or a release would make them."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = out.glob("tapegrad-*.tar.gz")
    (wheel,) = out.glob("tapegrad-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_the_wheel_installs_tapegrad_engine_and_nn(built):
    # A non-editable install is built from this wheel: it must hold tapegrad/engine and
    # tapegrad/nn (no top-level engine/ or nn/, no tapegrad/__init__.py: a namespace).
    names = zipfile.ZipFile(built["wheel"]).namelist()
    assert "tapegrad/engine/value.py" in names
    assert "tapegrad/nn/layers.py" in names
    assert "tapegrad/nn/commands/train.py" in names
    assert "tapegrad/__main__.py" in names  # python -m tapegrad
    assert not any(n.startswith(("engine/", "nn/")) for n in names)
    assert "tapegrad/__init__.py" not in names
    assert not any("_toplevel" in n for n in names)  # installed once, as tapegrad/__main__
    # every module of the checkout, and nothing else, is in the wheel
    setuptools = pyproject()["tool"]["setuptools"]
    package_dirs = setuptools["package-dir"]

    def folder(package: str) -> Path:
        top = max((p for p in package_dirs if package.startswith(p)), key=len)
        return ROOT / package_dirs[top] / package[len(top) + 1 :].replace(".", "/")

    expected = {
        f"{package.replace('.', '/')}/{module.name}"
        for package in setuptools["packages"]
        for module in folder(package).glob("*.py")
    }
    code = {n for n in names if n.endswith(".py")}
    assert code == expected


def test_the_wheel_and_the_sdist_carry_the_license(built):
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    wheel = zipfile.ZipFile(built["wheel"])
    (in_wheel,) = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert wheel.read(in_wheel).decode() == license_text
    with tarfile.open(built["sdist"]) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        assert sdist.extractfile(f"{top}/LICENSE").read().decode() == license_text
    (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_the_classifiers_name_every_declared_python():
    # requires-python ">=3.10" and one classifier per minor version CI runs, no gap
    project = pyproject()["project"]
    floor = re.fullmatch(r">=3\.(\d+)", project["requires-python"])
    assert floor, project["requires-python"]
    minors = sorted(
        int(c.rsplit(".", 1)[1])
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert minors == list(range(int(floor.group(1)), minors[-1] + 1))
    assert minors[-1] >= 13
    # .ci/run tests every one of them (3.11 by the README's command, the others by name)
    ci = (ROOT / ".ci/run").read_text()
    declared = re.search(r'^OTHER_PYTHONS="([^"]*)"', ci, re.MULTILINE)
    assert declared, ".ci/run names its other Pythons in OTHER_PYTHONS"
    assert sorted({11, *(int(v.split(".")[1]) for v in declared.group(1).split())}) == minors


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .gitignore (plain name and ``*`` patterns, ``dir/`` and ``/rooted``, as
    this repository writes them) ignores ``relative`` or one of its folders."""
    parts = relative.split("/")
    for pattern in patterns:
        rooted, name = pattern.startswith("/"), pattern.strip("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))] if rooted else parts
        if any(fnmatch.fnmatch(c, name) for c in candidates):
            return True
    return False


def test_the_sdist_holds_every_source_file(built):
    # The suite runs from an unpacked sdist: it needs the tests, the notebooks, the docs,
    # the benchmarks the tests run, and the files at the top. Every file of the source
    # tree that git would track (this works without git: in a checkout or an unpacked
    # sdist alike) is in the sdist.
    patterns = [
        line.strip()
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ] + [".git"]
    on_disk = set()
    for folder, dirs, files in os.walk(ROOT):
        here = Path(folder).relative_to(ROOT).as_posix()
        prefix = "" if here == "." else here + "/"
        dirs[:] = [d for d in dirs if not _ignored(prefix + d, patterns)]
        on_disk |= {prefix + f for f in files if not _ignored(prefix + f, patterns)}
    on_disk -= {"PKG-INFO", "setup.cfg"}  # what an sdist adds, when run from one
    with tarfile.open(built["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert on_disk - names == set()
    for needed in ("LICENSE", "README.md", ".ci/run", "tests/conftest.py"):
        assert needed in names
    assert any(n.startswith("notebooks/") and n.endswith(".ipynb") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """An empty virtual environment (no pip: the suite's own pip installs into it)."""
    where = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return where / ("Scripts" if os.name == "nt" else "bin")


def _pip_install(venv: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "python"), "install", "-q", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("form", ["wheel", "editable"])
def test_version_and_python_dash_m_from_an_install(built, venv, form, tmp_path):
    # pip install . (from the wheel it builds) and pip install -e . : both give the
    # console script and `python -m tapegrad`, one CLI, with the project's version.
    if form == "wheel":
        _pip_install(venv, str(built["wheel"]))  # with its dependencies
    else:
        _pip_install(venv, "--no-deps", "-e", str(ROOT))
    version = pyproject()["project"]["version"]
    for command in (
        [str(venv / "tapegrad"), "--version"],
        [str(venv / "python"), "-m", "tapegrad", "--version"],
        [str(venv / "python"), "-m", "tapegrad.nn", "--version"],
    ):
        # run from an empty folder, so the checkout is not on sys.path
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"tapegrad {version}\n", "")
    run = [str(venv / "python"), "-m", "tapegrad", "tape", "x*x", "--at", "x=3"]
    done = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "dout/dx = +6" in done.stdout  # d(x*x)/dx at 3
    where = subprocess.run(
        [str(venv / "python"), "-c", "import tapegrad.nn; print(tapegrad.nn.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if form == "editable":
        assert Path(where) == ROOT / "nn" / "__init__.py"  # the checkout's own files
    else:
        assert Path(where).parent.parent.name == "tapegrad" and ROOT not in Path(where).parents


def test_version_option(capsys):
    from tapegrad.nn.cli import main, version

    assert version() == pyproject()["project"]["version"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"tapegrad {version()}\n"


# -- types for users (issue 21 item 2) -------------------------------------------------

USER_CODE = """\
from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.nn import MLP, average_loss, mse, softmax_cross_entropy

y = Value(1.0).tanh().relu() + 2
first: Value = y

model = MLP(2, [4, 4, 1])
xs = [[2.0, 3.0], [3.0, -1.0], [0.5, 1.0]]
ys = [1.0, -1.0, 1.0]
for step in range(3):
    ypred = [model(x) for x in xs]
    loss = sum(((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred)), Value(0.0))
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data += -0.05 * p.grad
    print(step, loss.data)

a, b = Value(2.0), Value(3.0)
ga, gb = engine.grad(a * b + a.exp(), [a, b])
print((ga + 1.0).data, gb.data)

classifier = MLP(2, [3])
total: Value = average_loss(softmax_cross_entropy, classifier, xs, [0, 2, 1])
single: Value = mse(Value(0.5), 1.0)
print(total.data, single.data, mse.cost_name)
"""

USER_MISTAKES = """\
from tapegrad.engine import Value
from tapegrad.nn import mse

y = Value(1.0).tanh().relu() + "2"
z = Value(1.0).tanhh()
w = mse(Value(1.0))
"""


def _mypy(python: Path, folder: Path, source: str) -> subprocess.CompletedProcess:
    """mypy --strict on ``source``, resolving imports in ``python``'s site-packages only
    (run from ``folder``: no checkout on the path, no project config)."""
    (folder / "snippet.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", f"--python-executable={python}", "snippet.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )


def test_the_wheel_ships_py_typed_and_a_users_code_type_checks(built, tmp_path):
    names = zipfile.ZipFile(built["wheel"]).namelist()
    assert {"tapegrad/engine/py.typed", "tapegrad/nn/py.typed"} <= set(names)
    # the INSTALLED wheel (not the checkout): a fresh venv holding only tapegrad
    where = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / ("Scripts" if os.name == "nt" else "bin") / "python"
    _pip_install(python.parent, "--no-deps", str(built["wheel"]))
    work = tmp_path / "user"
    work.mkdir()
    done = _mypy(python, work, USER_CODE)
    assert (done.returncode, done.stdout) == (0, "Success: no issues found in 1 source file\n")
    # the snippet is real code: it runs
    subprocess.run([sys.executable, "snippet.py"], cwd=work, check=True, capture_output=True)
    # and mypy sees the package's types: real mistakes are errors
    done = _mypy(python, work, USER_MISTAKES)
    assert done.returncode == 1, done.stdout
    assert 'snippet.py:4: error: Unsupported operand types for + ("Value" and "str")' in done.stdout
    assert 'snippet.py:5: error: "Value" has no attribute "tanhh"' in done.stdout
    # a loss keeps its own parameters (nn.losses.Loss), not (*args, **kwargs)
    assert 'snippet.py:6: error: Missing positional argument "target"' in done.stdout
    assert "Found 3 errors in 1 file" in done.stdout
