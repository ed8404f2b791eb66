"""The committed golden table is still what PyTorch computes (needs ``torch==2.13.0``).

``test_golden.py`` compares tapegrad with ``golden/torch_float64.json`` and never
imports torch; this test closes the loop where torch is installed (``.ci/run``'s torch
stage): it re-runs ``golden/make_golden.py`` with this machine's torch and checks that
the new table has the same cases, inputs and shapes as the committed one, and that
every number agrees within the bounds ``test_golden.py`` gives tapegrad (nan as nan,
infinities and zeros by sign, finite values within the op's ulps; tree gradients and
Hessians within ``TREE_RTOL``). Not bit for bit: PyTorch's float64 exp, tanh, sqrt and
pow differ in their last bits between CPUs (measured: 49 of the table's numbers, by
1 to 7 ulp, between the machine that wrote it and this one).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.engine.test_golden import ATOL, TREE_RTOL, ULPS, agree, close

GOLDEN = Path(__file__).parent / "golden"

pytestmark = pytest.mark.torch


def fresh_table(tmp_path: Path) -> dict:
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    make_golden.OUT = tmp_path / "torch_float64.json"
    make_golden.main()
    return json.loads(make_golden.OUT.read_text())


def same_numbers(fresh, committed, where: str, check) -> list[str]:
    """Walk two tables of the same shape; return where a number disagrees."""
    if isinstance(committed, dict):
        assert fresh.keys() == committed.keys(), where
        return [
            bad
            for k in committed
            for bad in same_numbers(fresh[k], committed[k], f"{where}.{k}", check)
        ]
    if isinstance(committed, list):
        assert len(fresh) == len(committed), where
        return [
            bad
            for i, (f, c) in enumerate(zip(fresh, committed))
            for bad in same_numbers(f, c, f"{where}[{i}]", check)
        ]
    if isinstance(committed, str) and committed != fresh:
        try:
            got, want = float(fresh), float(committed)
        except ValueError:
            return [f"{where}: {fresh!r} != {committed!r}"]
        if not check(got, want):
            return [f"{where}: torch now {fresh}, table {committed}"]
    elif committed != fresh:
        return [f"{where}: {fresh!r} != {committed!r}"]
    return []


def test_the_golden_table_is_what_torch_computes(tmp_path):
    import torch

    assert torch.__version__.split("+")[0] == "2.13.0"
    fresh = fresh_table(tmp_path)
    committed = json.loads((GOLDEN / "torch_float64.json").read_text())
    assert fresh.keys() == committed.keys()
    assert fresh["seeds"] == committed["seeds"]
    bad = []
    for section in ("ops", "constants"):
        for name in committed[section]:
            ulps, atol = ULPS.get(name, 0), ATOL.get(name, 0.0)
            # the inputs of a case are equal exactly; only the results may differ
            bad += same_numbers(
                fresh[section][name],
                committed[section][name],
                f"{section}.{name}",
                lambda got, want, u=ulps, a=atol: agree(got, want, u, a),
            )
    # the losses' and softplus's values and derivatives: within the 4 ulp
    # tests/nn/test_losses_golden.py gives tapegrad
    for section in ("losses", "softplus"):
        bad += same_numbers(
            fresh[section], committed[section], section, lambda got, want: agree(got, want, 4)
        )
    for i, (new, old) in enumerate(zip(fresh["trees"], committed["trees"], strict=True)):
        assert (new["leaves"], new["program"]) == (old["leaves"], old["program"]), i
        bad += same_numbers(
            {k: v for k, v in new.items() if k not in ("leaves", "program")},
            {k: v for k, v in old.items() if k not in ("leaves", "program")},
            f"trees[{i}]",
            lambda got, want: close(got, want, TREE_RTOL),
        )
    assert bad == []
