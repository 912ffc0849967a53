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
