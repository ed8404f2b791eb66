"""The notebooks are committed clean: valid nbformat, no outputs, no execution counts.

Executing them is nbmake's job (``--nbmake`` in pytest's ``addopts`` collects every
``notebooks/*.ipynb``); these tests check what is committed, so a notebook saved
after running it in Jupyter (outputs, counts, a stray kernel name) fails here with
the file and cell named, instead of bloating the repository and the diffs.
"""

import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_eleven_notebooks_are_present_and_numbered():
    names = [p.name for p in PATHS]
    assert len(names) == 11, names
    assert [n[:3] for n in names] == [f"{i:02d}_" for i in range(1, 12)], names


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_is_valid_nbformat(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3", path.name


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_has_no_outputs_or_execution_counts(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        index
        for index, cell in enumerate(raw["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_opens_with_a_title_and_seeds_its_randomness(path):
    notebook = nbformat.read(path, as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), path.name
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    if "random" in code:
        assert "seed(" in code or "Random(" in code or "default_rng(" in code, path.name
