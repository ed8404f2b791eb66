"""Safe save/load: bit-exact round trips, atomic writes, and every bad file refused
with ModelFileError while the model stays untouched."""

import json
import math
import os
import pickle
import random
import struct
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapegrad.nn.serialize as serialize
from tapegrad.engine import Value
from tapegrad.nn.classic import Adaline, LogisticRegression, Perceptron
from tapegrad.nn.energy import BoltzmannMachine, Hopfield
from tapegrad.nn.layers import MLP, Layer, Neuron
from tapegrad.nn.module import MODEL_REGISTRY, Module
from tapegrad.nn.serialize import FORMAT, MAX_FILE_BYTES, ModelFileError, dumps, load, loads, save


@pytest.fixture(autouse=True)
def restore_registry():
    """Classes defined inside tests register themselves; keep them out of other tests."""
    saved = dict(MODEL_REGISTRY)
    yield
    MODEL_REGISTRY.clear()
    MODEL_REGISTRY.update(saved)


def bits(model):
    return [struct.pack("<d", p.data) for p in model.parameters()]


def set_parameters(model, values):
    for p, x in zip(model.parameters(), values):
        p.data = x


def small_mlp():
    return MLP(2, [3, 1], rng=random.Random(0))


def document(model):
    return json.loads(dumps(model))


# -- round trips ----------------------------------------------------------------------

any_float = st.floats(allow_nan=False, allow_infinity=False)

MODELS = st.one_of(
    st.builds(lambda n: Hopfield(n), st.integers(1, 5)),
    st.builds(lambda n, b: BoltzmannMachine(n, bias=b), st.integers(1, 4), st.booleans()),
    st.builds(
        lambda nin, nouts, act: MLP(nin, nouts, activation=act, rng=random.Random(1)),
        st.integers(1, 3),
        st.lists(st.integers(1, 3), min_size=1, max_size=3),
        st.sampled_from(["relu", "tanh", "sigmoid"]),
    ),
    st.builds(
        lambda c, nin: c(nin),
        st.sampled_from([Perceptron, Adaline, LogisticRegression]),
        st.integers(1, 4),
    ),
)


@given(MODELS, st.data())
def test_load_of_save_is_bit_identical(model, data):
    k = model.num_parameters()
    special = st.sampled_from(
        [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3]
    )
    values = data.draw(st.lists(st.one_of(any_float, special), min_size=k, max_size=k))
    set_parameters(model, values)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        save(model, path)
        rebuilt = load(path)
        assert type(rebuilt) is type(model)
        assert rebuilt.config() == model.config()
        assert [n for n, _ in rebuilt.named_parameters()] == [
            n for n, _ in model.named_parameters()
        ]
        assert bits(rebuilt) == bits(model)

        fresh = type(model)(**model.config())
        assert load(path, fresh) is fresh
        assert bits(fresh) == bits(model)


def test_file_layout():
    model = Hopfield(3)
    set_parameters(model, [0.5, -0.0, 5e-324])
    doc = document(model)
    assert list(doc) == ["format", "version", "class", "config", "parameters"]
    assert doc["format"] == FORMAT == "tapegrad-model"
    assert doc["version"] == 1
    assert doc["class"] == "Hopfield"
    assert doc["config"] == {"n": 3}
    assert list(doc["parameters"].items()) == [("w.0.1", 0.5), ("w.0.2", -0.0), ("w.1.2", 5e-324)]
    assert '"w.0.2": -0.0' in dumps(model)


def test_loaded_mlp_computes_the_same_outputs():
    model = small_mlp()
    rebuilt = loads(dumps(model))
    x = [0.3, -1.2]
    assert rebuilt(x).data == model(x).data


def test_loading_without_a_model_does_not_move_the_global_random_stream():
    text = dumps(small_mlp())
    random.seed(5)
    expected = [random.random() for _ in range(3)]
    random.seed(5)
    loads(text)
    assert [random.random() for _ in range(3)] == expected


def test_cls_restricts_what_a_file_may_hold():
    text = dumps(Hopfield(2))
    assert isinstance(loads(text, cls=Hopfield), Hopfield)
    assert isinstance(loads(text, cls=Module), Hopfield)
    with pytest.raises(ModelFileError, match="holds a Hopfield, not a MLP"):
        loads(text, cls=MLP)


# -- saving -------------------------------------------------------------------------


def test_save_is_atomic_and_fsyncs(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    save(Hopfield(2), path)
    assert len(synced) >= 1
    assert os.listdir(tmp_path) == ["m.json"]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text("old contents")

    def crash(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        save(Hopfield(2), path)
    assert path.read_text() == "old contents"
    assert os.listdir(tmp_path) == ["m.json"]


def test_save_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("x")
    os.chmod(path, 0o600)
    save(Hopfield(2), path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert isinstance(load(path), Hopfield)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused_and_nothing_is_written(tmp_path, bad):
    model = small_mlp()
    model.layers[1].neurons[0].w[2].data = bad
    path = tmp_path / "m.json"
    with pytest.raises(ValueError, match=r"parameter 'layers\.1\.neurons\.0\.w\.2' is"):
        save(model, path)
    assert os.listdir(tmp_path) == []
    path.write_text("previous")
    with pytest.raises(ValueError):
        save(model, path)
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["m.json"]


def test_save_argument_errors(tmp_path):
    with pytest.raises(TypeError, match=r"expects an nn\.Module"):
        save([Value(1.0)], tmp_path / "m.json")
    with pytest.raises(TypeError, match="path must be a str"):
        save(Hopfield(2), 3)
    # "" once reached os.replace (FileNotFoundError naming a temporary file).
    with pytest.raises(ValueError, match="path is empty"):
        save(Hopfield(2), "")
    with pytest.raises(ValueError, match="path is empty"):
        load("")

    class Unsaveable(Module):
        def __init__(self):
            self.w = Value(1.0)

    with pytest.raises(TypeError, match="does not define config"):
        save(Unsaveable(), tmp_path / "m.json")

    class WeirdConfig(Module):
        def __init__(self):
            self.w = Value(1.0)

        def config(self):
            return {"f": math.nan}

    with pytest.raises(TypeError, match="not JSON-safe"):
        save(WeirdConfig(), tmp_path / "m.json")
    assert os.listdir(tmp_path) == []


def test_a_class_shadowed_in_the_registry_is_refused(tmp_path):
    class Twin(Module):
        def __init__(self):
            self.w = Value(1.0)

        def config(self):
            return {}

    first = Twin()

    class Twin(Module):  # a notebook cell run again defines a new class
        def config(self):
            return {}

    with pytest.raises(ValueError, match=r"registered in nn\.MODEL_REGISTRY is not"):
        save(first, tmp_path / "m.json")
    assert MODEL_REGISTRY["Twin"] is Twin


# -- loading bad files ----------------------------------------------------------------


def good_text():
    model = Hopfield(3)
    set_parameters(model, [0.25, -0.5, 0.75])
    return dumps(model)


def edited(change):
    doc = json.loads(good_text())
    change(doc)
    return json.dumps(doc)


def pickle_payload(tmp_path):
    """A pickle whose loading would create a directory: proof that nothing ran."""

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    return pickle.dumps(Exploit())


BAD_TEXTS = {
    "empty": (b"", "file is empty"),
    "whitespace": (b"  \n", "not valid JSON"),
    "truncated": (good_text()[:60].encode(), "not valid JSON \\(the file looks truncated\\)"),
    "not json": (b"hello world", "not valid JSON"),
    "random binary": (bytes([0xFF, 0xFE, 0x00, 0x12]), "binary data, not UTF-8"),
    "top-level array": (b"[1, 2]", "the top level is an array"),
    "no format": (edited(lambda d: d.pop("format")).encode(), "no 'format' field"),
    "wrong format": (
        edited(lambda d: d.update(format="pytorch")).encode(),
        "format is 'pytorch'",
    ),
    "version 2": (edited(lambda d: d.update(version=2)).encode(), "unsupported version 2"),
    "version string": (
        edited(lambda d: d.update(version="1")).encode(),
        'unsupported version "1"',
    ),
    "version bool": (edited(lambda d: d.update(version=True)).encode(), "unsupported version true"),
    "missing parameters": (
        edited(lambda d: d.pop("parameters")).encode(),
        "missing field\\(s\\) 'parameters'",
    ),
    "unknown field": (edited(lambda d: d.update(code="os.system")).encode(), "unknown field"),
    "unknown class": (
        edited(lambda d: d.update({"class": "os.system"})).encode(),
        "unknown model class 'os.system'",
    ),
    "private class": (
        edited(lambda d: d.update({"class": "_EnergyModel"})).encode(),
        "unknown model class '_EnergyModel'",
    ),
    "class not a string": (
        edited(lambda d: d.update({"class": ["Hopfield"]})).encode(),
        "'class' must be a string",
    ),
    "config not an object": (
        edited(lambda d: d.update(config=[3])).encode(),
        "'config' must be an object",
    ),
    "parameters not an object": (
        edited(lambda d: d.update(parameters=[0.25, -0.5, 0.75])).encode(),
        "'parameters' must be an object",
    ),
    "missing parameter": (
        edited(lambda d: d["parameters"].pop("w.1.2")).encode(),
        "missing 1 parameter\\(s\\): 'w.1.2'",
    ),
    "extra parameter": (
        edited(lambda d: d["parameters"].update({"w.2.3": 1.0})).encode(),
        "unexpected 1 parameter\\(s\\): 'w.2.3'",
    ),
    "string value": (
        edited(lambda d: d["parameters"].update({"w.0.2": "0.5"})).encode(),
        "parameter 'w.0.2' is a string",
    ),
    "bool value": (
        edited(lambda d: d["parameters"].update({"w.0.2": True})).encode(),
        "parameter 'w.0.2' is a boolean",
    ),
    "null value": (
        edited(lambda d: d["parameters"].update({"w.0.2": None})).encode(),
        "parameter 'w.0.2' is null",
    ),
    "list value": (
        edited(lambda d: d["parameters"].update({"w.0.2": [0.5]})).encode(),
        "parameter 'w.0.2' is an array",
    ),
    "NaN": (good_text().replace("-0.5", "NaN").encode(), "non-finite number NaN"),
    "Infinity": (good_text().replace("-0.5", "Infinity").encode(), "non-finite number Infinity"),
    "-Infinity": (
        good_text().replace("-0.5", "-Infinity").encode(),
        "non-finite number -Infinity",
    ),
    "overflowing float": (good_text().replace("-0.5", "1e400").encode(), "out of float range"),
    "overflowing int": (
        good_text().replace("-0.5", "1" + "0" * 400).encode(),
        "out of float range",
    ),
    "thousands of digits": (good_text().replace("-0.5", "9" * 5000).encode(), "not valid JSON"),
    "duplicate parameter": (
        good_text().replace('"w.0.2"', '"w.0.1"').encode(),
        "duplicate key 'w.0.1'",
    ),
    "duplicate top-level key": (
        good_text().replace('"version": 1,', '"version": 1, "version": 1,').encode(),
        "duplicate key 'version'",
    ),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "bad config for the class": (
        edited(lambda d: d.update(config={"n": -3})).encode(),
        "config .* does not build a Hopfield",
    ),
    # A few bytes asking for 5·10^17 weights: refused by count, before building.
    "config too large to build": (
        edited(lambda d: d.update(config={"n": 10**9})).encode(),
        "builds a Hopfield with at least 499999999500000000 parameters, but the file lists 3",
    ),
    "config with an unknown argument": (
        edited(lambda d: d.update(config={"n": 3, "exec": "rm -rf /"})).encode(),
        "does not build a Hopfield",
    ),
}


@pytest.mark.parametrize(
    "build, config",
    [
        (lambda: MLP(2, [3, 1]), {"nin": 10**9}),
        (lambda: MLP(2, [3, 1]), {"nouts": [10**5, 10**5, 1]}),
        (lambda: Layer(2, 3), {"nout": 10**9}),
        (lambda: Neuron(2), {"nin": 10**9}),
        (lambda: Perceptron(2), {"nin": 10**9}),
    ],
)
def test_a_config_far_larger_than_its_parameters_is_refused_before_building(build, config):
    text = dumps(build())
    doc = json.loads(text)
    doc["config"].update(config)
    with pytest.raises(ModelFileError, match=r"with at least .* parameters, but the file lists"):
        loads(json.dumps(doc))


@pytest.mark.parametrize("case", list(BAD_TEXTS))
def test_bad_files_raise_model_file_error_and_leave_the_model_untouched(tmp_path, case):
    raw, message = BAD_TEXTS[case]
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    with pytest.raises(ModelFileError, match=message):
        load(path)
    model = Hopfield(3)
    set_parameters(model, [9.0, -0.0, 7.0])
    before = bits(model)
    # "bad config" files only fail when rebuilding; into a model they are a mismatch.
    with pytest.raises(ModelFileError):
        load(path, model)
    assert bits(model) == before
    with pytest.raises(ModelFileError):
        loads(raw, model)
    assert bits(model) == before


def test_a_pickle_renamed_json_is_refused_without_running_it(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(pickle_payload(tmp_path))
    with pytest.raises(ModelFileError, match=r"Python pickle.*never loads pickles"):
        load(path)
    assert not (tmp_path / "pwned").exists()
    # protocol 0 pickles are ASCII: refused as not JSON
    path.write_bytes(pickle.dumps({"w": 1.0}, protocol=0))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load(tmp_path / "nothing.json")
    with pytest.raises(ModelFileError, match="is a directory"):
        load(tmp_path)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk space, but st_size is over
    assert MAX_FILE_BYTES == 64 * 1024 * 1024

    def no_reading(*args):
        raise AssertionError("the file was read")

    real_open = open

    class Guard:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        read = no_reading

    monkeypatch.setattr("builtins.open", lambda p, mode="r": Guard(real_open(p, mode)))
    with pytest.raises(ModelFileError, match=f"over the limit of {MAX_FILE_BYTES} bytes"):
        load(path)


def test_the_limit_also_holds_when_the_reported_size_is_wrong(tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "MAX_FILE_BYTES", 100)
    path = tmp_path / "m.json"
    path.write_text(good_text())
    with pytest.raises(ModelFileError, match="over the limit of 100 bytes"):
        load(path)
    with pytest.raises(ModelFileError, match="over the limit of 100"):
        loads(good_text())


def test_architecture_mismatch_with_a_given_model():
    text = good_text()
    wrong_size = Hopfield(4)
    with pytest.raises(ModelFileError, match=r'architecture mismatch.*\{"n": 3\}.*\{"n": 4\}'):
        loads(text, wrong_size)
    assert all(p.data == 0.0 for p in wrong_size.parameters())
    with pytest.raises(ModelFileError, match="holds a Hopfield, but the model is a Boltz"):
        loads(text, BoltzmannMachine(3))
    # Same parameter names, different function: refused too.
    tanh = MLP(2, [3, 1], activation="tanh", rng=random.Random(0))
    before = bits(tanh)
    with pytest.raises(ModelFileError, match="architecture mismatch"):
        loads(dumps(small_mlp()), tanh)
    assert bits(tanh) == before


def test_integers_in_a_hand_edited_file_are_accepted_as_floats():
    model = loads(good_text().replace("-0.5", "-2"))
    assert [p.data for p in model.parameters()] == [0.25, -2.0, 0.75]
    assert type(model.parameters()[1].data) is float


def test_load_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="path must be a str"):
        load(None)
    with pytest.raises(TypeError, match=r"expects an nn\.Module"):
        load(tmp_path / "m.json", model="Hopfield")
    with pytest.raises(TypeError, match="loads expects str or bytes"):
        loads(3)


def test_module_save_and_class_load(tmp_path):
    from tapegrad.nn import MLP, Module, Perceptron

    model = MLP(2, [3, 1])
    path = tmp_path / "m.json"
    model.save(path)
    again = MLP.load(path)
    assert type(again) is MLP
    assert [p.data for p in again.parameters()] == [p.data for p in model.parameters()]
    assert type(Module.load(path)) is MLP  # the base class accepts any model
    with pytest.raises(ModelFileError):
        Perceptron.load(path)  # the file holds an MLP
