"""benchmarks/source_corpus.py, the manifest a restructure is checked with: the same
hashes on every run (else a before/after comparison would flag noise), and
``--compare`` finds a changed entry and a missing one."""

import json

import pytest


@pytest.fixture(scope="module")
def source_corpus():
    import pathlib
    import sys

    benchmarks = str(pathlib.Path(__file__).resolve().parent.parent / "benchmarks")
    sys.path.insert(0, benchmarks)
    try:
        import source_corpus
    finally:
        sys.path.remove(benchmarks)
    return source_corpus


def test_the_source_corpus_is_the_same_on_every_run(source_corpus):
    first, second = source_corpus.build().hashes, source_corpus.build().hashes
    assert first == second
    assert len(first) > 700
    kinds = {name.split("/")[0] for name in first}
    assert kinds == {"row", "record", "vmap"}
    assert any(name.endswith("/lifted_source") for name in first)


def test_compare_reports_a_changed_and_a_missing_entry(source_corpus, tmp_path, capsys):
    hashes = {"a": "1", "b": "2", "c": "3"}
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(hashes), encoding="utf-8")
    after.write_text(json.dumps({**hashes, "a": "9"}), encoding="utf-8")
    assert source_corpus.main(["--compare", str(before), str(before)]) == 0
    assert source_corpus.main(["--compare", str(before), str(after)]) == 1
    assert "different: 1\n  a" in capsys.readouterr().out
    after.write_text(json.dumps({"a": "1", "b": "2"}), encoding="utf-8")
    assert source_corpus.main(["--compare", str(before), str(after)]) == 1
    assert "only in" in capsys.readouterr().out
