"""The fit loop.

Splits, reproducibility, checkpoints and resuming, history files, DDP, bad input.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from calspike.models import CalciumVAE, SpikeClassifier
from calspike.training import choose_device, fit, load_checkpoint, load_model, predict
from calspike.windows.sampling import split_by_neuron

HERE = Path(__file__).parent


def _data(count=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, 12, 2)).astype(np.float32)
    return x, x[:, 6:, 0].sum(axis=1) > 0


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _fresh(seed=0, dropout=0.2):
    torch.manual_seed(seed)
    return SpikeClassifier(channels=2, hidden=8, layers=2, dropout=dropout)


def test_split_by_neuron_keeps_neurons_apart():
    neuron = np.repeat(np.arange(20), np.arange(20) * 3 + 5)
    parts = split_by_neuron(neuron, (0.7, 0.15, 0.15), seed=4)
    assert sorted(np.concatenate(parts).tolist()) == list(range(neuron.size))
    sets = [set(neuron[p].tolist()) for p in parts]
    assert all(sets) and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert abs(parts[0].size / neuron.size - 0.7) < 0.1
    again = split_by_neuron(neuron, (0.7, 0.15, 0.15), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = split_by_neuron(neuron, (0.7, 0.15, 0.15), seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))
    with pytest.raises(ValueError, match="cannot split 2 neuron"):
        split_by_neuron(np.array([0, 0, 1]), (0.5, 0.3, 0.2))
    with pytest.raises(ValueError, match="fractions must be positive"):
        split_by_neuron(neuron, (0.7, -0.1))


def test_same_seed_same_weights_and_history():
    x, y = _data()
    runs = []
    for _ in range(2):
        model = _fresh()
        result = fit(
            model, x, y, validation=_data(100, 1), epochs=3, batch_size=32, seed=9, progress=False
        )
        runs.append(
            (
                _weights(model),
                [{k: v for k, v in r.items() if k != "seconds"} for r in result.history],
            )
        )
    assert all(torch.equal(runs[0][0][k], runs[1][0][k]) for k in runs[0][0])
    assert runs[0][1] == runs[1][1]
    model = _fresh()
    fit(model, x, y, validation=_data(100, 1), epochs=3, batch_size=32, seed=10, progress=False)
    assert not all(torch.equal(runs[0][0][k], v) for k, v in _weights(model).items())


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    x, y = _data()
    validation = _data(100, 1)
    settings = {
        "validation": validation,
        "epochs": 5,
        "batch_size": 32,
        "seed": 2,
        "patience": None,
        "progress": False,
    }
    straight = _fresh()
    fit(straight, x, y, **settings)

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, record):
        if epoch == 2:
            raise Interrupt

    checkpoint = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        fit(_fresh(), x, y, checkpoint=checkpoint, callback=stop_after_two, **settings)
    assert load_checkpoint(checkpoint)["epoch"] == 2
    resumed = _fresh(seed=123)  # other initial weights: the checkpoint replaces them
    result = fit(resumed, x, y, checkpoint=checkpoint, resume=True, **settings)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4, 5]
    assert all(torch.equal(v, _weights(straight)[k]) for k, v in _weights(resumed).items())
    assert not list(tmp_path.glob("*.part"))  # written atomically, nothing left behind


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_model(tmp_path):
    x, y = _data()
    model = _fresh(dropout=0.0)
    fit(
        model,
        x,
        y,
        validation=_data(100, 1),
        epochs=2,
        batch_size=64,
        checkpoint=tmp_path / "c.pt",
        progress=False,
    )
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["kind"] == "SpikeClassifier" and state["model_config"] == model.config
    assert {"model", "optimizer", "scheduler", "epoch", "rng", "history", "fit"} <= set(state)
    loaded = load_model(tmp_path / "c.pt")
    probe = torch.from_numpy(x[:50])
    assert torch.equal(loaded.predict_proba(probe), model.predict_proba(probe))


def test_resume_refuses_other_settings(tmp_path):
    x, y = _data()
    fit(_fresh(), x, y, epochs=1, checkpoint=tmp_path / "c.pt", progress=False)
    with pytest.raises(ValueError, match=r"other fit settings \(lr\)"):
        fit(
            _fresh(),
            x,
            y,
            epochs=1,
            lr=0.1,
            checkpoint=tmp_path / "c.pt",
            resume=True,
            progress=False,
        )
    with pytest.raises(ValueError, match="holds a SpikeClassifier"):
        fit(
            SpikeClassifier(channels=2, hidden=9),
            x,
            y,
            epochs=1,
            checkpoint=tmp_path / "c.pt",
            resume=True,
            progress=False,
        )


def test_bad_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not a readable calspike checkpoint"):
        load_checkpoint(bad)
    bad.write_text(
        "a,b\n"
    )  # a CSV: the weights-only unpickler raised IndexError, "pop from empty list"
    with pytest.raises(ValueError, match="bad.pt: not a readable calspike checkpoint"):
        load_checkpoint(bad)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a calspike checkpoint"):
        load_model(tmp_path / "other.pt")


def test_history_files_and_early_stopping(tmp_path):
    x, y = _data()
    noise = np.random.default_rng(3).random(100) > 0.5  # unlearnable validation labels
    result = fit(
        _fresh(),
        x,
        y,
        validation=(_data(100, 1)[0], noise),
        epochs=30,
        patience=2,
        lr=0.01,
        history_path=tmp_path / "h.csv",
        progress=False,
    )
    assert result.stopped_early and len(result.history) < 30
    assert (
        result.best_epoch
        == min(range(len(result.history)), key=lambda i: result.history[i]["val_loss"]) + 1
    )
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].split(",")[:2] == ["epoch", "lr"] and len(lines) == len(result.history) + 1
    fit(_fresh(), x, y, epochs=2, history_path=tmp_path / "h.json", progress=False)
    assert [r["epoch"] for r in json.loads((tmp_path / "h.json").read_text())] == [1, 2]


def test_progress_bar_shows_loss_and_accuracy(capsys):
    x, y = _data()
    fit(_fresh(), x, y, validation=_data(100, 1), epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "epochs" in err and "train_loss" in err and "val_accuracy" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # the settings' schema (calspike.config) checks them, with the ranges the CLI has
        ({"epochs": 0}, r"epochs must be in \[1, 100000\], got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer, got 2.5"),
        ({"lr": float("nan")}, "lr must be finite, got nan"),
        ({"lr": 0.0}, r"lr must be in \[1e-08, 10\], got 0.0"),
        ({"clip": -1.0}, "clip must be in"),
        ({"patience": 0}, "patience must be in"),
        ({"weight_decay": float("inf")}, "weight_decay must be finite"),
        ({"schedule": "warm"}, "schedule must be one of 'cosine', 'plateau', 'constant'"),
        ({"device": "tpu"}, "device must be 'auto', 'cpu', 'cuda' or 'cuda:i'"),
        ({"y": np.zeros(3, bool)}, "x and y must have the same length"),
        ({"x": np.full((400, 12, 2), np.nan, np.float32)}, "x holds NaN or infinite values"),
    ],
)
def test_bad_fit_arguments(change, message):
    x, y = _data()
    arguments = {"x": x, "y": y, **change}
    with pytest.raises(ValueError, match=message):
        fit(_fresh(), arguments.pop("x"), arguments.pop("y"), progress=False, **arguments)


def test_choose_device():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            choose_device("cuda:0")


def test_vae_fits_without_labels_and_predict_batches():
    x, _ = _data()
    model = CalciumVAE(length=12, channels=2, hidden=8, latent=4)
    result = fit(model, x, epochs=2, batch_size=64, progress=False)
    assert {"train_loss", "train_mse", "train_kl"} <= set(result.history[-1])
    means = predict(model.encode, x, batch_size=64)
    assert means.shape == (400, 4) and means.dtype == np.float32
    assert np.allclose(means, model.encode(torch.from_numpy(x)).detach().numpy(), atol=1e-6)


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one(tmp_path):
    """torchrun with 2 gloo ranks, each taking half of every batch, ends where one process does."""
    environment = {
        k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    }
    worker = str(HERE / "_ddp_worker.py")
    subprocess.run(
        [sys.executable, worker, str(tmp_path / "one.pt")], check=True, env=environment, timeout=300
    )
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            worker,
            str(tmp_path / "two.pt"),
        ],
        check=False,
        env={**environment, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"},
        timeout=300,
        capture_output=True,
    )
    assert ran.returncode == 0, ran.stderr.decode()[-4000:]  # what a rank said, on failure
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    for key, value in one["state"].items():
        torch.testing.assert_close(two["state"][key], value, rtol=1e-4, atol=1e-5)
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"])
