"""benchmarks/batched.py's implementations compute the same loss and gradients (no
timing here: timings live in ``benchmarks/``). The script refuses to time
implementations that disagree; this runs that check on small batches, so a change
that breaks batched replay's numbers (or a baseline's) fails the suite."""

import importlib.util
import math
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def batched():
    spec = importlib.util.spec_from_file_location("batched", ROOT / "benchmarks" / "batched.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("batch", [2, 7, 40])
def test_the_implementations_agree(batched, batch):
    results = batched.run_all(batch)
    assert {"plain", "replay", "eager", "vmap", "lifted", "numpy"} <= set(results)
    batched.agree(results)
    # the engine's three per-entry ways are the same arithmetic: equal to the last bit
    assert results["vmap"] == results["replay"] == results["eager"]
    # the lifted program re-associates sums: within 1e-12
    (loss, grads), (lifted_loss, lifted_grads) = results["eager"], results["lifted"]
    pairs = [(loss, lifted_loss), *zip(grads, lifted_grads)]
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) for a, b in pairs)


def test_a_disagreement_is_refused(batched):
    with pytest.raises(SystemExit, match="vmap disagrees"):
        batched.agree({"plain": (1.0, [2.0]), "vmap": (1.0, [2.5])})


def test_the_node_count_is_one_samples_graph(batched):
    assert batched.nodes_per_sample() == 644  # 16·5 + 16·33 + 32 + 4 ops
