"""``tapegrad train`` through ``nn.cli.main``: defaults, options, outputs, bad arguments."""

import re
from pathlib import Path

import pytest

from tapegrad.nn.cli import COMMANDS, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUICK = ["--samples", "20", "--epochs", "2", "--no-progress"]


def run(capsys, *args):
    code = main(["train", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def reported_accuracy(out):
    return float(re.search(r"accuracy: ([\d.]+)%", out).group(1)) / 100


def test_train_is_the_first_command():
    assert COMMANDS[0] == "train"


def test_defaults_fit_two_moons_to_at_least_95_percent(capsys):
    code, out, err = run(capsys, "--no-progress")
    assert code == 0, err
    assert "MLP(2 -> 8 relu -> 8 relu -> 1 linear" in out
    assert "moons, 100 samples" in out
    assert reported_accuracy(out) >= 0.95
    assert re.search(r"loss: +\d\.\d{4}", out) and re.search(r"time: +[\d.]+ s", out)


@pytest.mark.parametrize("model", ["perceptron", "adaline", "logreg"])
def test_classic_models_learn_blobs(capsys, model):
    code, out, _ = run(
        capsys,
        "--model",
        model,
        "--dataset",
        "blobs",
        "--samples",
        "30",
        "--epochs",
        "5",
        "--no-progress",
    )
    assert code == 0
    assert "sgd lr=0.01, batch size 1" in out
    assert reported_accuracy(out) == 1.0


def test_spirals_get_one_output_per_class(capsys):
    code, out, _ = run(capsys, "--dataset", "spirals", "--hidden", "6", *QUICK)
    assert code == 0
    assert "MLP(2 -> 6 relu -> 3 linear" in out


def test_full_batch_and_optimizer_options(capsys):
    code, out, _ = run(
        capsys,
        "--batch-size",
        "full",
        "--optimizer",
        "sgd",
        "--lr",
        "0.2",
        "--loss",
        "logistic",
        *QUICK,
    )
    assert code == 0
    assert "sgd lr=0.2, full batch, 2 epochs" in out


def test_plot_writes_a_png(capsys, tmp_path):
    path = tmp_path / "boundary.png"
    code, out, _ = run(capsys, "--plot", str(path), *QUICK)
    assert code == 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 5000
    assert f"plot:    {path}" in out


def test_graph_draws_the_trained_mlp_one_block_per_layer(capsys, tmp_path):
    dot = tmp_path / "mlp.dot"
    code, out, _ = run(capsys, "--graph", str(dot), "--hidden", "3", *QUICK)
    assert code == 0 and f"graph:   {dot}" in out
    source = dot.read_text()
    # the lecture's traditional net: a linear block w_k z_k and a non-linear block h
    # per hidden layer, one circle per layer vector with its size, ȳ last
    assert source.count('class="tg-function"') == 3  # w0 z0, relu, w1 z1
    assert 'label="w0 z0"' in source and "label=relu" in source and 'label="w1 z1"' in source
    assert 'label="x = z0\\n2"' in source and 'label="s1\\n3"' in source
    assert 'label="ȳ = s2\\n1"' in source
    svg = tmp_path / "mlp.svg"
    assert run(capsys, "--graph", str(svg), "--hidden", "3", *QUICK)[0] == 0
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") or "<svg" in text[:400]
    assert "w0 z0" in text and "relu" in text  # matplotlib keeps each text as a comment


def test_save_writes_a_model_that_loads(capsys, tmp_path):
    from tapegrad.nn import serialize

    path = tmp_path / "model.json"
    code, out, _ = run(capsys, "--save", str(path), *QUICK)
    assert code == 0
    assert f"saved:   {path}" in out
    model = serialize.load(str(path))
    assert type(model).__name__ == "MLP"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--lr", "-1"], "--lr must be a finite number > 0"),
        (["--lr", "nan"], "--lr must be a finite number > 0"),
        (["--l2", "-1"], "--l2 must be a finite number >= 0"),
        (["--hidden", "8,x"], "--hidden must be sizes like 16,16"),
        (["--hidden", "0"], "--hidden sizes must be positive"),
        (["--hidden", ""], "--hidden must be sizes like 16,16, got ''"),
        (["--hidden", "1000,1000"], "makes 1,005,001 parameters; at most 1,000,000"),
        (["--batch-size", ""], "--batch-size must be a positive int or 'full', got ''"),
        (["--samples", "1000000000000"], "--samples must be at most 1,000,000"),
        (["--batch-size", "0"], "--batch-size must be a positive int or 'full'"),
        (["--batch-size", "half"], "--batch-size must be a positive int or 'full'"),
        (["--samples", "2"], "--samples must be at least 4"),
        (["--model", "perceptron", "--hidden", "4"], "--hidden applies to --model mlp"),
        (["--model", "perceptron", "--activation", "tanh"], "--activation applies to --model"),
        (["--model", "perceptron", "--dataset", "spirals"], "two-class linear unit"),
        (["--loss", "cross_entropy"], "--dataset moons has two classes labelled -1/+1"),
        (["--dataset", "spirals", "--loss", "bce"], "--loss bce is a two-class loss"),
        (["--save", "model.txt"], "--save file name must end with .json"),
        (["--save", "/no/such/dir/model.json"], "does not exist"),
        (["--plot", "plot.txt"], "--plot file name must end with .png"),
        (["--graph", "graph.txt"], "--graph file name must end with .svg"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args, "--no-progress")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("tapegrad train: error: ")
    assert message in err
    assert out == ""  # nothing trained, nothing printed


def test_an_output_path_that_is_a_directory_is_refused_before_training(capsys, tmp_path):
    directory = tmp_path / "model.json"
    directory.mkdir()
    code, out, err = run(capsys, "--save", str(directory), *QUICK)
    assert code == 2
    assert err == f"tapegrad train: error: --save: {str(directory)!r} is a directory\n"
    assert out == ""


def test_a_diverged_model_is_not_saved_and_the_error_is_one_line(capsys, tmp_path):
    path = tmp_path / "model.json"
    code, _, err = run(capsys, "--lr", "1e308", "--save", str(path), *QUICK)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("tapegrad train: error: training diverged")
    assert "the loss is nan" in err and "smaller --lr" in err
    assert not path.exists()


@pytest.mark.parametrize("args", [["--model", "svm"], ["--epochs", "many"], ["--dataset", "iris"]])
def test_argparse_rejects_unknown_choices(capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--model",
        "--dataset",
        "--epochs",
        "--lr",
        "--batch-size",
        "--seed",
        "--save",
        "--plot",
        "--hidden",
    ):
        assert option in out


# -- the whole matrix that `tapegrad train --help` offers ---------------------------


def _choices(option):
    from tapegrad.nn.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return list(train._option_string_actions[option].choices)


MODELS, DATASETS, LOSSES = _choices("--model"), _choices("--dataset"), _choices("--loss")
ACTIVATIONS = _choices("--activation")
TINY = ["--samples", "8", "--epochs", "1", "--hidden", "3", "--no-progress"]


def _outcome(capsys, args):
    """'trained' or 'refused', after checking that a refusal is one line, before training."""
    code, out, err = run(capsys, *args)
    if code == 0:
        assert "accuracy:" in out and err == "", (args, err)
        return "trained"
    assert code == 2, (args, code, err)
    assert out == "", (args, out)  # refused before training: nothing was printed
    assert err.count("\n") == 1 and err.startswith("tapegrad train: error: "), (args, err)
    return "refused"


def test_every_model_dataset_and_loss_trains_or_is_refused_before_training(capsys):
    outcomes = {}
    for model in MODELS:
        for dataset in DATASETS:
            for loss in [None, *LOSSES]:
                args = ["--model", model, "--dataset", dataset, *TINY]
                if model != "mlp":
                    args.remove("--hidden"), args.remove("3")
                if loss is not None:
                    args += ["--loss", loss]
                outcomes[model, dataset, loss] = _outcome(capsys, args)
    two_class = [d for d in DATASETS if d != "spirals"]
    # every two-class loss (bce included) trains every model on every two-class dataset
    for model in MODELS:
        for dataset in two_class:
            for loss in [None, *LOSSES]:
                expected = "refused" if loss == "cross_entropy" else "trained"
                assert outcomes[model, dataset, loss] == expected, (model, dataset, loss)
    # the spirals' three classes: an MLP with softmax cross-entropy, nothing else
    for model in MODELS:
        for loss in [None, *LOSSES]:
            trains = model == "mlp" and loss in (None, "cross_entropy")
            assert outcomes[model, "spirals", loss] == ("trained" if trains else "refused")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_trains_with_every_loss_that_fits(capsys, activation):
    for dataset, losses in (("moons", [None, *LOSSES]), ("spirals", [None, "cross_entropy"])):
        for loss in losses:
            args = ["--dataset", dataset, "--activation", activation, *TINY]
            if loss is not None:
                args += ["--loss", loss]
            expected = "refused" if (dataset, loss) == ("moons", "cross_entropy") else "trained"
            assert _outcome(capsys, args) == expected, (dataset, loss)


@pytest.mark.parametrize(
    ("model", "dataset"),
    [("mlp", "moons"), ("perceptron", "blobs"), ("adaline", "blobs"), ("logreg", "blobs")],
)
def test_bce_learns_from_the_datasets_plus_minus_one_labels(capsys, model, dataset):
    code, out, err = run(
        capsys, "--model", model, "--dataset", dataset, "--loss", "bce", "--no-progress"
    )
    assert code == 0, err
    assert reported_accuracy(out) >= 0.97


@pytest.mark.parametrize("gate", ["and", "or"])
def test_a_logic_gate_says_that_samples_does_not_apply(capsys, gate):
    # the truth table has four points whatever --samples says: the output says so
    code, out, err = run(
        capsys, "--dataset", gate, "--samples", "50", "--epochs", "1", "--no-progress"
    )
    assert code == 0, err
    assert f"{gate}, 4 samples, seed 0 (the truth table; --samples 50 does not apply)" in out
    code, out, err = run(capsys, "--dataset", "moons", *QUICK)
    assert code == 0 and "does not apply" not in out


def test_the_progress_bar_shows_on_a_pseudo_terminal_of_unknown_size():
    # A pty that reports 0 columns and 0 lines (script, CI runners): tqdm printed an
    # empty line; the bar now gets 80 columns.
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    command = [sys.executable, "-m", "tapegrad.nn", "train", "--samples", "20", "--epochs", "3"]
    process = subprocess.Popen(command, stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert process.wait() == 0
    text = output.decode("utf-8", "replace")
    assert re.search(r"train: 100%\|█+\| 3/3", text), text
    # the bar's accuracy and the summary's: one definition, one format
    bar = re.findall(r"acc=(\d+\.\d)%", text)[-1]
    assert f"accuracy: {bar}% on the 20 training samples" in text


def test_the_loss_is_printed_as_history_prints_it(capsys):
    # QA 6 item 18: History said 0.01736, the command 0.0175 for the same loss
    from tapegrad.nn.train import format_loss

    code, out, err = run(capsys, "--no-progress")
    assert code == 0, err
    last, first = re.search(r"^loss: +(\S+) \(epoch 1: (\S+)\)$", out, re.M).groups()
    assert (last, first) == ("0.01754", "0.7651")
    assert last == format_loss(float(last)) and first == format_loss(float(first))


def test_the_readmes_perceptron_example_makes_mistakes_that_fall(capsys, tmp_path):
    # QA 6 item 13 / issue 20 item 6: on blobs the rule made one mistake and its
    # summary read "loss: 0.0000 (epoch 1: 0.0000)"; the example now learns the OR
    # gate from zero weights, and the summary counts its mistakes.
    plot = tmp_path / "or.png"
    code, out, err = run(
        capsys, "--model", "perceptron", "--dataset", "or", "--plot", str(plot), "--no-progress"
    )
    assert code == 0, err
    assert "mistakes: 3 in epoch 1 -> 0 in epoch 20 (" in out
    assert "loss:" not in out  # the criterion is 0 at zero weights: no loss line
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "train.md").read_text("utf-8")
    assert "$ tapegrad train --model perceptron --dataset or --plot or.png" in docs
    shown = re.search(r"^mistakes: .*$", docs, re.M).group(0)
    assert shown == re.search(r"^mistakes: .*$", out, re.M).group(0)


def test_other_losses_of_a_perceptron_are_printed_as_losses(capsys):
    code, out, err = run(
        capsys, "--model", "perceptron", "--dataset", "blobs", "--loss", "hinge", *QUICK
    )
    assert code == 0, err
    assert re.search(r"^loss: ", out, re.M) and "mistakes:" not in out
