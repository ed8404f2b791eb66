"""The benchmark's implementations compute the same thing (no timing here: timings
live in ``benchmarks/``, never in tests). The script refuses to time implementations
that disagree; these tests run that agreement check on small sizes, so a change that
breaks tapegrad's (or the float baseline's) numbers fails the suite, not only a
benchmark run."""

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("micrograd", reason="the test extra installs micrograd==0.1.0")
    return load("bench")


def test_the_three_chains_agree(bench):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # micrograd's recursive topological sort
    try:
        impls = {
            "tapegrad": bench.chain_tapegrad,
            "micrograd": bench.chain_micrograd,
            "plain": bench.chain_plain,
        }
        bench.check("chain", {name: f(300)[:2] for name, f in impls.items()})
    finally:
        sys.setrecursionlimit(limit)


def test_the_three_wide_sums_agree(bench):
    a, b = bench.wide_inputs(500)
    runs = {
        name: make(a, b)
        for name, make in (
            ("tapegrad", bench.wide_tapegrad),
            ("micrograd", bench.wide_micrograd),
            ("plain", bench.wide_plain),
        )
    }
    bench.check("wide", {name: result(run()) for name, (run, result) in runs.items()})


def test_the_training_steps_agree_eager_replayed_micrograd_and_by_hand(bench):
    X, y = bench.two_moons(20)
    weights = bench.initial_weights()
    tg = bench.TapegradMLP(weights)
    loss = tg.loss(X, y)
    loss.backward()
    plain = bench.PlainMLP(weights)
    plain_loss, gW, gB = plain.loss_and_grads(X, y)
    mg = bench.MicrogradMLP(weights)
    mg_loss = bench.margin_loss(mg.model, X, y, bench.MGValue)
    mg_loss.backward()
    replay = bench.ReplayMLP(weights, X, y)
    replay_loss = replay.compiled()
    bench.check(
        "training step",
        {
            "tapegrad": (loss.data, [p.grad for p in tg.params]),
            "micrograd": (mg_loss.data, [p.grad for p in mg.params]),
            "plain": (plain_loss, plain.flat(gW, gB)),
            "replay": (replay_loss, [p.grad for p in replay.params]),
        },
    )


def test_a_disagreement_is_refused(bench):
    with pytest.raises(SystemExit, match="plain disagrees with tapegrad"):
        bench.check("x", {"tapegrad": (1.0, [2.0]), "plain": (1.0, [2.5])})


def test_the_floor_script_builds_the_same_chain():
    floor = load("floor")
    bare, value = floor.bare(50), floor.tapegrad(50)
    assert bare.data == value.data == floor.plain(50)[-1]
    assert len(bare._tape) == len(value._tape.entries)  # one 8-item entry per op
