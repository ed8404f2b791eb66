"""torch stays optional: importing the engine never imports it, and engine.to_torch
says how to install it when it is missing (these tests run without torch)."""

import subprocess
import sys

import pytest


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_importing_the_engine_never_imports_torch():
    result = run(
        "import sys\n"
        "import tapegrad.engine, tapegrad.engine.export, tapegrad.nn\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("blocked", ["torch"])
def test_to_torch_without_torch_says_how_to_install_it(blocked):
    result = run(
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if torch were not installed\n"
        "from tapegrad import engine\n"
        "w = engine.Value(0.5)\n"
        "try:\n"
        "    engine.to_torch(lambda x: x * w, [w], [1.0, 2.0])\n"
        "except ModuleNotFoundError as e:\n"
        "    print(e)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "engine.to_torch needs PyTorch" in result.stdout
    assert "pip install torch" in result.stdout
