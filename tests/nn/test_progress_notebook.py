"""fit's progress bar in a notebook: a saved notebook shows its final state."""

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_a_saved_notebook_shows_the_final_bar_not_zero_percent():
    # nbconvert and GitHub show a widget's text/plain: it was the 0% of the bar's start.
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import random\n"
            "from tapegrad.nn import MLP, fit, moons\n"
            "X, y = moons(20, seed=0)\n"
            "history = fit(MLP(2, [4, 1], rng=random.Random(0)), X, y, epochs=3)"
        )
    )
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    bars = [o for o in notebook.cells[0].outputs if WIDGET in o.get("data", {})]
    assert len(bars) == 1
    text = bars[0]["data"]["text/plain"]
    assert "100%" in text and "3/3" in text, text
