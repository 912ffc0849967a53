"""The calspike command: prepare, train, evaluate, --config files, usage errors, exit codes.

(`calspike run` end to end is tested in test_report.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import calspike
from calspike.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--skip", "0"],
        ["run", "--normalize", "zscore"],
        ["run", "--len-pre", "x"],
        ["run", "--epochs", "0"],
        ["train"],
        ["evaluate", "a.pt"],
        ["bogus"],
        [],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()  # one line: the error, and where the options are
    assert len(err) == 1 and ": error: " in err[0] and "--help)" in err[0], err


def test_data_errors_exit_1_with_one_line(tmp_path, capsys):
    (tmp_path / "1.train.calcium.csv").write_text("0,1\n1,2\n3,oops\n")
    (tmp_path / "1.train.spikes.csv").write_text("0,1\n0,0\n0,0\n")
    assert main(["prepare", "--data", str(tmp_path), "-o", str(tmp_path / "w.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("calspike: error:") and "line 3, column '1'" in err and "\n" not in err
    assert main(["run", "--data", str(tmp_path / "missing"), "-o", str(tmp_path / "r")]) == 1
    assert not (tmp_path / "w.npz").exists()
    np.save(tmp_path / "traces.npy", np.random.default_rng(0).standard_normal((3, 1_000)))
    assert (
        main(
            [
                "run",
                "--data",
                str(tmp_path / "traces.npy"),
                "--rate",
                "30",
                "-o",
                str(tmp_path / "r"),
            ]
        )
        == 1
    )
    assert "needs ground-truth spikes" in capsys.readouterr().err and not (tmp_path / "r").exists()
    (tmp_path / "bad.npz").write_bytes(b"nothing")
    assert main(["train", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "m.pt")]) == 1
    assert "bad.npz: not a calspike windows file" in capsys.readouterr().err


def test_prepare_train_evaluate_round_trip(tmp_path, capsys):
    windows = tmp_path / "windows.npz"
    assert main(["prepare", "-o", str(windows), "--normalize", "neuron"]) == 0
    prepared = calspike.load_windows(windows)
    assert prepared.params["normalize"] == "neuron" and len(prepared) == len(
        calspike.partition(calspike.default_recordings(0), normalize="neuron")
    )
    checkpoint = tmp_path / "classifier.pt"
    assert (
        main(
            [
                "train",
                str(windows),
                "-o",
                str(checkpoint),
                "--epochs",
                "2",
                "--hidden",
                "16",
                "--max-windows",
                "4000",
                "--history",
                str(tmp_path / "h.csv"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "2 epochs" in capsys.readouterr().out
    assert len((tmp_path / "h.csv").read_text().splitlines()) == 3
    scores_file = tmp_path / "scores.json"
    assert main(["evaluate", str(checkpoint), str(windows), "--json", str(scores_file)]) == 0
    out = capsys.readouterr().out
    scores = json.loads(scores_file.read_text())
    assert "not used in training" in out and 0.6 < scores["balanced_accuracy"] <= 1
    state = calspike.training.load_checkpoint(checkpoint)
    held_out = set(state["extra"]["neurons"]["test"])
    assert scores["windows"] == sum(prepared.neuron_names[n] in held_out for n in prepared.neuron)
    # resuming a finished run changes nothing; a missing checkpoint is a clear error
    assert (
        main(
            [
                "train",
                str(windows),
                "-o",
                str(checkpoint),
                "--epochs",
                "2",
                "--hidden",
                "16",
                "--max-windows",
                "4000",
                "--resume",
                "--no-progress",
            ]
        )
        == 0
    )
    with pytest.raises(SystemExit) as code:  # a usage error, found before the windows are read
        main(["train", str(windows), "-o", str(tmp_path / "none.pt"), "--resume"])
    assert code.value.code == 2 and "--resume: no checkpoint" in capsys.readouterr().err
    vae = tmp_path / "vae.pt"
    assert (
        main(
            [
                "train",
                str(windows),
                "--model",
                "vae",
                "-o",
                str(vae),
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--latent",
                "4",
                "--max-windows",
                "2000",
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["evaluate", str(vae), str(windows)]) == 0
    assert "explained_variance" in capsys.readouterr().out


def test_config_file_sets_options_and_the_command_line_wins(tmp_path, capsys):
    settings = tmp_path / "settings.toml"
    settings.write_text('normalize = "neuron"\nskip = 20\n')
    assert (
        main(["prepare", "--config", str(settings), "-o", str(tmp_path / "a.npz"), "--skip", "30"])
        == 0
    )
    params = calspike.load_windows(tmp_path / "a.npz").params
    assert params["normalize"] == "neuron" and params["skip"] == 30
    for text, message in (
        ("nonsense = 1\n", "unknown setting 'nonsense'"),
        ("skip = 0\n", "skip must be in"),
        ("skip = [", "not valid TOML"),
    ):
        settings.write_text(text)
        with pytest.raises(SystemExit) as exit_info:
            main(["prepare", "--config", str(settings), "-o", str(tmp_path / "b.npz")])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["prepare", "--config", str(tmp_path / "missing.toml"), "-o", str(tmp_path / "b.npz")])
    assert "No such file" in capsys.readouterr().err


def test_the_installed_command_and_module_entry_points():
    script = shutil.which("calspike", path=os.path.dirname(sys.executable)) or shutil.which(
        "calspike"
    )
    assert script is not None, "the calspike command is not installed next to this Python"
    for command in ([script, "--version"], [sys.executable, "-m", "calspike", "--version"]):
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == f"calspike {calspike.__version__}"
    helptext = subprocess.run(
        [script, "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--len-pre", "--epochs", "--latent", "--device", "--config", "--quick", "--out"):
        assert option in helptext
    assert "default: 10" in helptext
    commands = subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    assert all(
        c in commands for c in ("run", "fetch", "prepare", "train", "evaluate", "infer", "score")
    )
