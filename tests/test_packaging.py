"""Packaging: everything importable from a checkout is also in the installed wheel, and
tapegrad installs as ``tapegrad.engine`` / ``tapegrad.nn`` so a student's own
``engine.py`` or ``nn.py`` never shadows it."""

import subprocess
import sys
import textwrap
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
        ".".join(("tapegrad", *init.parent.relative_to(ROOT).parts))
        for top in ("engine", "nn")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk == listed


def test_the_console_script_points_at_a_real_function():
    target = pyproject()["project"]["scripts"]["tapegrad"]
    module, _, function = target.partition(":")
    imported = __import__(module, fromlist=[function])
    assert callable(getattr(imported, function))


def test_folders_map_to_tapegrad_namespace():
    dirs = pyproject()["tool"]["setuptools"]["package-dir"]
    assert dirs == {"tapegrad.engine": "engine", "tapegrad.nn": "nn"}


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


def test_the_wheel_installs_tapegrad_engine_and_nn(tmp_path):
    # A non-editable install is built from this wheel: it must hold tapegrad/engine and
    # tapegrad/nn (no top-level engine/ or nn/, no tapegrad/__init__.py: a namespace).
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("tapegrad-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tapegrad/engine/value.py" in names
    assert "tapegrad/nn/layers.py" in names
    assert "tapegrad/nn/commands/train.py" in names
    assert not any(n.startswith(("engine/", "nn/")) for n in names)
    assert "tapegrad/__init__.py" not in names
