"""calspike infer and calspike score: files in, files out, the SpikeFinder way."""

from __future__ import annotations

import json

import numpy as np
import pytest

import calspike
from calspike.cli import main
from calspike.spikes.files import infer
from calspike.spikes.score import score_files


@pytest.fixture()
def spikefinder_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for number, seed in ((1, 0), (2, 1)):
        recording = calspike.simulate(3, 3_000, indicator="GCaMP6f", snr=8, seed=seed)
        lengths = np.array([3_000, 2_500, 3_000])
        calspike.write_spikefinder_csv(
            folder / f"{number}.train.calcium.csv", recording.calcium, lengths
        )
        calspike.write_spikefinder_csv(
            folder / f"{number}.train.spikes.csv", recording.spikes, lengths
        )
    return folder


def test_infer_folder_writes_predictions_in_the_inputs_layout(spikefinder_folder, tmp_path):
    written = infer(spikefinder_folder, tmp_path / "out", method="oasis")
    assert [p.name for p in written] == ["1.train.spikes.csv", "2.train.spikes.csv"]
    values, lengths = calspike.data.read_spikefinder_csv(written[0])
    assert values.shape == (3, 3_000) and lengths.tolist() == [
        3_000,
        2_500,
        3_000,
    ]  # NaN padding kept
    sidecar = json.loads((tmp_path / "out" / "calspike-infer.json").read_text())
    assert sidecar["method"] == "oasis" and sidecar["recordings"][0]["neurons"] == 3
    assert len(sidecar["recordings"][1]["g"]) == 3


def test_score_ranks_predictions_per_dataset_and_overall(spikefinder_folder, tmp_path):
    infer(spikefinder_folder, tmp_path / "ar1", method="oasis")
    infer(spikefinder_folder, tmp_path / "ar2", method="oasis", p=2)
    infer(spikefinder_folder, tmp_path / "model")
    noise = tmp_path / "noise"
    noise.mkdir()
    for number in (1, 2):
        values, lengths = calspike.data.read_spikefinder_csv(
            spikefinder_folder / f"{number}.train.spikes.csv"
        )
        random = np.random.default_rng(number).random(values.shape)
        calspike.write_spikefinder_csv(noise / f"{number}.train.spikes.csv", random, lengths)
    rows = score_files(
        spikefinder_folder, [tmp_path / "ar1", tmp_path / "ar2", tmp_path / "model", noise]
    )
    assert [(r.prediction.split("/")[-1], r.dataset) for r in rows] == [
        (name, dataset)
        for name in ("ar1", "ar2", "model", "noise")
        for dataset in ("1", "2", "all")
    ]
    overall = {r.prediction.split("/")[-1]: r for r in rows if r.dataset == "all"}
    assert overall["ar1"].neurons == 6
    assert overall["ar1"].correlation > 0.5 and overall["ar2"].correlation > 0.3
    assert abs(overall["noise"].correlation) < 0.1 and abs(overall["noise"].auc - 0.5) < 0.1
    # the shipped rate model: a real rate (positive information gain), unlike random numbers
    assert (
        overall["model"].correlation > 0.5
        and overall["model"].info_gain > 0 > overall["noise"].info_gain
    )


def test_cli_infer_and_score_on_arrays(tmp_path, capsys):
    recording = calspike.simulate(2, 2_000, seed=3)
    np.save(tmp_path / "calcium.npy", recording.calcium)
    np.save(tmp_path / "truth.npy", recording.spikes)
    assert (
        main(
            [
                "infer",
                str(tmp_path / "calcium.npy"),
                "-o",
                str(tmp_path / "pred.npy"),
                "--rate",
                "100",
            ]
        )
        == 0
    )
    prediction = np.load(tmp_path / "pred.npy")
    assert prediction.shape == (2, 2_000) and (tmp_path / "pred.npy.json").is_file()
    assert (
        main(
            [
                "score",
                str(tmp_path / "truth.npy"),
                str(tmp_path / "pred.npy"),
                "--json",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    assert "corr" in capsys.readouterr().out
    rows = json.loads((tmp_path / "s.json").read_text())
    assert rows[0]["neurons"] == 2 and rows[0]["correlation"] > 0.3


def test_infer_and_score_errors(spikefinder_folder, tmp_path, capsys):
    np.save(tmp_path / "calcium.npy", np.ones((2, 100)))
    with pytest.raises(SystemExit) as code:  # a usage error, found before any work
        main(
            [
                "infer",
                str(tmp_path / "calcium.npy"),
                "-o",
                str(tmp_path / "out.csv"),
                "--rate",
                "30",
            ]
        )
    assert code.value.code == 2 and "must be a .npy path" in capsys.readouterr().err
    assert main(["infer", str(tmp_path / "calcium.npy"), "-o", str(tmp_path / "out.npy")]) == 1
    assert "rate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as code:
        main(["infer", str(tmp_path / "calcium.npy"), "-o", "x.npy", "--method", "magic"])
    assert code.value.code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["score", str(spikefinder_folder), str(empty)]) == 1
    partial = tmp_path / "partial"
    partial.mkdir()
    infer(
        spikefinder_folder / "1.train.calcium.csv", partial / "1.train.spikes.csv", method="oasis"
    )
    with pytest.raises(FileNotFoundError, match="dataset\\(s\\) 2"):
        score_files(spikefinder_folder, [partial])
    np.save(tmp_path / "short.npy", np.zeros((2, 50)))
    np.save(tmp_path / "truth.npy", np.zeros((2, 60)))
    with pytest.raises(ValueError, match="differs from the truth"):
        score_files(tmp_path / "truth.npy", [tmp_path / "short.npy"])


def test_a_new_method_is_one_class_and_its_name(tmp_path, monkeypatch):
    """A third method (here the trace's rises) needs its class and its name, nothing else: the
    runner, the chunking and the sidecar take it as they take the rate model and OASIS."""
    from dataclasses import replace

    from calspike import config
    from calspike.spikes import registry
    from calspike.spikes.method import json_values

    def rises(calcium):
        return np.maximum(np.diff(calcium, prepend=calcium[:, :1]), 0).astype(np.float32)

    class Rises:
        name = "rises"

        def __init__(self, settings):
            self.settings = settings

        @classmethod
        def from_settings(cls, settings):
            return cls(settings)

        @classmethod
        def on_worker(cls, payload, settings):
            return cls(settings)

        def recorded_settings(self):
            return {"rises": "positive steps"}

        def working_rate(self, rate):
            return rate

        def payload(self):
            return b""

        def worker_settings(self):
            return self.settings

        def __call__(self, recording):
            spikes = rises(recording.calcium)
            return spikes, {"largest": json_values(spikes.max(axis=1))}

    monkeypatch.setitem(registry.METHODS, "rises", Rises)
    method = replace(
        config.SETTINGS["method"], choices=(*config.SETTINGS["method"].choices, "rises")
    )
    monkeypatch.setitem(config.SETTINGS, "method", method)
    traces = calspike.simulate(5, 1_000, 30.0, seed=1).calcium
    np.save(tmp_path / "t.npy", traces)
    infer(tmp_path / "t.npy", tmp_path / "s.npy", rate=30.0, method="rises", chunk_neurons=2)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), rises(traces))
    sidecar = json.loads((tmp_path / "s.npy.json").read_text())
    assert sidecar["method"] == "rises" and sidecar["rises"] == "positive steps"
    assert len(sidecar["recordings"][0]["largest"]) == 5


def test_the_methods_are_the_method_settings_choices():
    from calspike import config
    from calspike.spikes.registry import METHODS

    assert tuple(METHODS) == config.SETTINGS["method"].choices


def test_the_model_card_reads_and_writes_a_checkpoints_metadata_unchanged():
    from calspike.spikes.model_card import ModelCard

    extra = calspike.load_rate_model()[1]
    card = ModelCard.from_dict(extra)
    assert card.to_dict() == extra and list(card.to_dict()) == list(extra)
    assert card.frame_rate_range_hz == tuple(extra["frame_rate_range_hz"])
    assert card.trained_on == extra["train_datasets"]
    older = {"train_neurons": ["a/0"], "normalised_noise_range": [0.01, 0.2], "later_key": 1}
    older_card = ModelCard.from_dict(older)
    assert older_card.to_dict() == older and older_card.trained_on == ["a/0"]
    assert older_card.other == {"later_key": 1} and ModelCard.from_dict(None).to_dict() == {}
    tuned = ModelCard(frame_rate_range_hz=(30.0, 300.0)).fine_tuned_from(card, "default")
    low, high = extra["frame_rate_range_hz"]
    assert tuned.frame_rate_range_hz == (min(30.0, low), max(300.0, high))
    assert tuned.initialised_from == {
        "model": "default",
        "train_datasets": sorted(extra["train_datasets"]),
    }


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: calspike.deconvolve(r, p=3), r"p must be in \[1, 2\]"),
        (lambda r: calspike.deconvolve(r, fudge=0), r"fudge must be in \[1e-08, 1\]"),
        (lambda r: calspike.deconvolve(r, s_min=-1), r"s_min must be in \[0, inf\]"),
        (
            lambda r: calspike.deconvolve(r, baseline_percentile=101),
            r"baseline_percentile must be in \[0, 100\]",
        ),
        (lambda r: calspike.infer_spike_rates(r, tile=0), r"tile must be in \[1, "),
        (
            lambda r: calspike.infer_spike_rates(r, chunk_neurons=2**31 + 1),
            r"chunk_neurons must be in \[1, 2147483648\]",
        ),
    ],
)
def test_inference_settings_have_the_schemas_one_range(call, message):
    with pytest.raises(ValueError, match=message):
        call(calspike.simulate(2, 300, 30.0, seed=0))


def test_workers_have_one_range_from_the_cli_and_the_api(tmp_path, capsys):
    np.save(tmp_path / "x.npy", calspike.simulate(2, 300, 30.0, seed=0).calcium)
    argv = ["infer", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy"), "--rate", "30"]
    for workers, message in (
        ("0", "--workers must be in [1, 1024], got 0"),
        ("1000", "--workers must be an integer in [1, "),
    ):
        with pytest.raises(SystemExit) as stopped:  # the schema's floor, then the machine's ceiling
            main([*argv, "--workers", workers])
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(calspike.UsageError, match=r"workers must be an integer in \[1, "):
        infer(tmp_path / "x.npy", tmp_path / "p.npy", rate=30.0, workers=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
