"""Training the rate model on ground truth from many datasets: sampling, dropped frames, the
CLI's sources and exclusions, and the warnings about recordings unlike the training data."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_data_cascade import segment, write_neuron

import calspike
from calspike.cli import main
from calspike.data import Recording
from calspike.spikes import rate_training
from calspike.spikes.rate import FrameRateWarning, NoiseWarning, infer_spike_rates, load_rate_model
from calspike.training import load_checkpoint


def _named(recording: Recording, dataset: str) -> Recording:
    return replace(recording, metadata={"dataset": dataset})


def test_balanced_draw_evens_out_datasets():
    big = _named(calspike.simulate(8, 8_000, rate=50.0, seed=1), "big")
    small = _named(calspike.simulate(1, 4_000, rate=50.0, seed=2), "small")
    chunks = rate_training.rate_training_set(
        [big, small], 25.0, 10, chunk=64, stride=32, augment_rates=()
    )
    sizes = np.bincount(chunks.group)
    assert chunks.groups == ["big", "small"] and sizes[0] > 10 * sizes[1]
    for balance, expected in (
        (0.0, sizes / sizes.sum()),
        (1.0, np.array([0.5, 0.5])),
        (0.5, np.sqrt(sizes) / np.sqrt(sizes).sum()),
    ):
        drawn = rate_training.balanced_draw(chunks, 40_000, balance, seed=0)
        share = np.bincount(chunks.group[drawn], minlength=2) / drawn.size
        np.testing.assert_allclose(share, expected, atol=0.01)
    with pytest.raises(ValueError, match="balance"):
        rate_training.balanced_draw(chunks, 10, 1.5, seed=0)


def test_a_time_warp_reads_the_recording_at_a_stretched_rate(tmp_path):
    recording = calspike.simulate(2, 6_000, rate=100.0, seed=3)
    settings = {"chunk": 64, "stride": 32, "augment_rates": (), "subframes": 2}
    warped = rate_training.rate_training_set([recording], 25.0, 10, warps=(0.5,), **settings)
    assert sorted(np.unique(warped.version).tolist()) == [0, 1]
    # the warped version is, by definition, the same arrays recorded at 0.5 x 100 Hz: slower
    # kinetics
    slower = rate_training.rate_training_set([replace(recording, rate=50.0)], 25.0, 10, **settings)
    np.testing.assert_array_equal(warped.inputs[warped.version == 1], slower.inputs)
    np.testing.assert_array_equal(warped.counts[warped.version == 1], slower.counts)
    as_recorded = rate_training.rate_training_set([recording], 25.0, 10, **settings)
    np.testing.assert_array_equal(warped.inputs[warped.version == 0], as_recorded.inputs)
    for bad in (0.0, -1.0, 20.0, True):
        with pytest.raises(ValueError, match="warps"):
            rate_training.rate_training_set([recording], 25.0, 10, warps=(bad,), **settings)
    rate_training.train_rate_model(
        [recording],
        validation=None,
        epochs=1,
        samples=64,
        warps=(0.5, 1.5),
        augment_rates=(),
        device="cpu",
        progress=False,
        checkpoint=tmp_path / "warped.pt",
    )
    extra = load_checkpoint(tmp_path / "warped.pt")["extra"]
    assert extra["time_warps"] == [0.5, 1.5] and extra["frame_rate_range_hz"] == [50.0, 150.0]


def test_chunks_never_cross_a_dropped_frame():
    recording = calspike.simulate(1, 6_000, rate=100.0, seed=3)
    calcium = recording.calcium.copy()
    calcium[0, 3_000:3_020] = np.nan  # 0.2 s dropped at 30 s
    gappy = Recording(calcium, 100.0, spikes=recording.spikes, gaps=True)
    whole = rate_training.rate_training_set(
        [recording], 25.0, 10, chunk=64, stride=16, augment_rates=()
    )
    cut = rate_training.rate_training_set([gappy], 25.0, 10, chunk=64, stride=16, augment_rates=())
    assert np.isfinite(cut.inputs).all() and 0 < len(cut.inputs) < len(whole.inputs)
    # every chunk that survives is identical to the gap-free one at the same place
    # (normalisation aside)
    dropped_model_frames = (750 - 1, 755 + 1)
    starts = np.arange(0, 1500 - 64 + 1, 16)
    clear = [
        (s + 64 + 10 <= dropped_model_frames[0]) or (s - 10 >= dropped_model_frames[1])
        for s in starts
    ]
    assert len(cut.inputs) == sum(clear)


def test_train_rate_takes_cascade_and_spikefinder_sources_and_excludes_datasets(tmp_path, capsys):
    rng = np.random.default_rng(4)
    for dataset, rate in (("DS91-GCaMP6f-m-V1", 30.0), ("DS92-GCaMP8m-m-V1", 120.0)):
        for cell in range(2):
            sim = calspike.simulate(1, int(rate * 120), rate=rate, seed=int(rng.integers(1000)))
            spikes_s = np.repeat(np.arange(sim.frames) / rate, sim.spikes[0].astype(int))
            write_neuron(
                tmp_path / "gt" / dataset / f"CAttached_c{cell}_mini.mat",
                [segment(sim.frames, rate, spikes_s, calcium=sim.calcium[0])],
            )
    sf = calspike.simulate(2, 6_000, rate=100.0, seed=5)
    (tmp_path / "sf").mkdir()
    calspike.write_spikefinder_csv(tmp_path / "sf" / "7.train.calcium.csv", sf.calcium)
    calspike.write_spikefinder_csv(tmp_path / "sf" / "7.train.spikes.csv", sf.spikes)
    out = tmp_path / "rate.pt"
    common = [
        "-o",
        str(out),
        "--epochs",
        "1",
        "--channels",
        "4",
        "--validation",
        "0",
        "--no-progress",
        "--device",
        "cpu",
        "--samples",
        "64",
    ]
    assert (
        main(
            [
                "train-rate",
                "--data",
                str(tmp_path / "gt"),
                "--data",
                str(tmp_path / "sf"),
                *common,
                "--exclude",
                "DS92",
            ]
        )
        == 0
    )
    _, extra = load_rate_model(out)
    assert sorted(extra["train_datasets"]) == ["DS91", "SF7"]
    assert extra["train_datasets"]["DS91"]["indicator"] == "GCaMP6f"
    assert extra["frame_rate_range_hz"][1] == pytest.approx(100.0)
    assert main(["train-rate", str(tmp_path / "gt" / "DS92-GCaMP8m-m-V1"), *common]) == 0
    assert list(load_rate_model(out)[1]["train_datasets"]) == ["DS92"]
    capsys.readouterr()
    assert main(["train-rate", "--data", str(tmp_path / "gt"), *common, "--exclude", "DS99"]) == 2
    assert "no dataset named DS99" in capsys.readouterr().err
    with pytest.raises(SystemExit) as code:
        main(["train-rate", *common])
    assert code.value.code == 2 and "at least one source" in capsys.readouterr().err
    for bad in (["--balance", "2"], ["--samples", "-1"]):
        with pytest.raises(SystemExit) as code:
            main(["train-rate", str(tmp_path / "sf"), *common, *bad])
        assert code.value.code == 2


def test_inference_warns_about_frame_rates_and_noise_outside_training():
    model, metadata = load_rate_model()
    assert metadata["frame_rate_range_hz"][0] <= 7.5 and metadata["frame_rate_range_hz"][1] >= 150
    assert metadata["frame_rate_range_hz"][1] < 3_000
    recording = calspike.simulate(3, 6_000, rate=3_000.0, seed=6)
    with pytest.warns(FrameRateWarning, match="3000 Hz of all 3 neuron"):
        infer_spike_rates(recording, model=model, metadata=metadata, device="cpu")
    typical = calspike.simulate(2, 4_000, rate=30.0, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a typical recording at 30 Hz: neither warning
        infer_spike_rates(typical, model=model, metadata=metadata, device="cpu")
    _, info = infer_spike_rates(typical, model=model, metadata=metadata, device="cpu")
    low, high = info["normalised_noise_level"]
    narrow = {**metadata, "normalised_noise_range": [min(low, high) * 1.01, max(low, high) * 2]}
    with pytest.warns(NoiseWarning, match=rf"1 neuron\(s\) \({int(np.argmin([low, high]))}\)"):
        infer_spike_rates(typical, model=model, metadata=narrow, device="cpu")


def test_the_shipped_model_learned_from_every_ground_truth_dataset():
    _, extra = load_rate_model()
    datasets = extra["train_datasets"]
    cascade = [1, 2, 3, 4, 5, *range(6, 16), *range(18, 34), 40, 41]
    assert sorted(datasets) == [f"DS{n:02d}" for n in cascade] + ["SF4", "SF5", "SF6"]
    assert 59 < sum(d["hours"] for d in datasets.values()) < 61  # 58.7 h CASCADE + 1.4 h SF
    indicators = {datasets[d]["indicator"] for d in datasets if d.startswith("DS")}
    assert {"OGB-1", "Cal-520", "R-CaMP1.07", "jRCaMP1a", "jRGECO1a", "XCaMP-Gf"} < indicators
    assert extra["balance"] == 0.5 and 0 < extra["count_scale"] < 1  # it overcounts, uncalibrated


def test_the_sidecar_says_what_the_model_was_trained_on(tmp_path):
    np.save(tmp_path / "traces.npy", calspike.simulate(2, 3_000, rate=30.0, seed=8).calcium)
    assert (
        main(
            [
                "infer",
                str(tmp_path / "traces.npy"),
                "-o",
                str(tmp_path / "out.npy"),
                "--rate",
                "30",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    sidecar = json.loads((tmp_path / "out.npy.json").read_text())
    assert sidecar["model_trained_on"]["DS31"]["indicator"] == "jGCaMP8m"
    assert sidecar["frame_rate_range_hz"] == load_rate_model()[1]["frame_rate_range_hz"]


def _late_labels(seed: int, neurons: int = 6) -> Recording:
    """Simulated neurons whose recorded spikes come 80 ms after the ones that made the
    fluorescence (as in a recording whose electrophysiology clock lags the microscope's)."""
    recording = calspike.simulate(neurons, 12_000, rate=100.0, seed=seed)
    assert recording.spikes is not None
    late = np.zeros_like(recording.spikes)
    late[:, 8:] = recording.spikes[:, :-8]
    return replace(recording, spikes=late, metadata={"dataset": "DS93"})


def _r_at_25hz(recording: Recording, model: calspike.models.SpikeRateModel) -> float:
    predicted, _ = infer_spike_rates(recording, model=model, device="cpu")
    assert recording.spikes is not None
    pairs = [
        (t.reshape(-1, 4).sum(1), p.reshape(-1, 4).sum(1))
        for t, p in zip(recording.spikes, predicted, strict=True)
    ]
    return float(np.mean([np.corrcoef(t, p)[0, 1] for t, p in pairs]))


def test_fine_tuning_teaches_the_shipped_model_a_recording_s_timing(tmp_path):
    base, base_extra = load_rate_model()
    tuned = rate_training.train_rate_model(
        [_late_labels(21)],
        init="default",
        validation=None,
        epochs=3,
        samples=1_024,
        lr=1e-3,
        device="cpu",
        progress=False,
        checkpoint=tmp_path / "tuned.pt",
    )
    assert tuned.model.config == base.config
    unseen = _late_labels(22)  # other neurons of the same "recording"
    assert (
        _r_at_25hz(unseen, tuned.model) > _r_at_25hz(unseen, base) + 0.3
    )  # measured: 0.12 -> 0.73
    extra = load_checkpoint(tmp_path / "tuned.pt")["extra"]
    assert list(extra["train_datasets"]) == ["DS93"]
    assert (
        extra["initialised_from"]["model"] == "default"
        and "DS31" in extra["initialised_from"]["train_datasets"]
    )
    # it keeps much of what it knew, so it warns no sooner than the model it started from
    assert extra["frame_rate_range_hz"] == base_extra["frame_rate_range_hz"]
    assert extra["normalised_noise_range"][0] <= base_extra["normalised_noise_range"][0]
    again = rate_training.train_rate_model(
        [_late_labels(23, 2)],
        init=tmp_path / "tuned.pt",
        validation=None,
        epochs=1,
        samples=64,
        device="cpu",
        progress=False,
        checkpoint=tmp_path / "again.pt",
    )
    assert again.model.config == base.config
    assert load_checkpoint(tmp_path / "again.pt")["extra"]["initialised_from"]["model"] == str(
        tmp_path / "tuned.pt"
    )
    with pytest.raises(ValueError, match="not both"):
        rate_training.train_rate_model(
            [_late_labels(23, 2)], init="default", model=base, progress=False
        )
    for missing in (
        tmp_path / "none.pt",
        Path("default"),
    ):  # a path, even one named default, is a file's
        with pytest.raises(FileNotFoundError, match="no spike-rate model"):
            rate_training.train_rate_model([_late_labels(23, 2)], init=missing, progress=False)


def test_cli_train_rate_init_fine_tunes(tmp_path, capsys):
    recording = _late_labels(24, 2)
    np.savez(tmp_path / "mine.npz", calcium=recording.calcium, spikes=recording.spikes, rate=100.0)
    common = [
        "train-rate",
        str(tmp_path / "mine.npz"),
        "-o",
        str(tmp_path / "tuned.pt"),
        "--epochs",
        "1",
        "--samples",
        "64",
        "--validation",
        "0",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert (
        main(
            [*common, "--init", "default", "--lr", "0.001", "--export", str(tmp_path / "small.pt")]
        )
        == 0
    )
    model, extra = load_rate_model(tmp_path / "small.pt")
    assert (
        model.config == load_rate_model()[0].config
        and extra["initialised_from"]["model"] == "default"
    )
    np.save(tmp_path / "calcium.npy", recording.calcium)
    assert (
        main(
            [
                "infer",
                str(tmp_path / "calcium.npy"),
                "-o",
                str(tmp_path / "out.npy"),
                "--rate",
                "100",
                "--model",
                str(tmp_path / "small.pt"),
                "--no-progress",
            ]
        )
        == 0
    )
    sidecar = json.loads((tmp_path / "out.npy.json").read_text())
    assert list(sidecar["model_trained_on"]) == ["mine"]  # the .npz file's name
    assert "DS31" in sidecar["model_initialised_from"]["train_datasets"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as code:
        main([*common, "--init", "default", "--channels", "8", "--subframes", "2"])
    assert code.value.code == 2 and "drop --channels, --subframes" in capsys.readouterr().err
    assert main([*common, "--init", str(tmp_path / "none.pt")]) == 1
    assert "no spike-rate model" in capsys.readouterr().err
    (tmp_path / "notes.pt").write_text("a,b\n")
    assert main([*common, "--init", str(tmp_path / "notes.pt")]) == 1
    assert "notes.pt: not a readable calspike checkpoint" in capsys.readouterr().err
    before = (tmp_path / "small.pt").read_bytes()
    for where in (["-o", str(tmp_path / "small.pt")], ["--export", str(tmp_path / "small.pt")]):
        with pytest.raises(SystemExit) as code:  # the model it starts from is never written over
            main([*common, "--init", str(tmp_path / "small.pt"), *where])
        assert code.value.code == 2 and "is the input" in capsys.readouterr().err
    assert (tmp_path / "small.pt").read_bytes() == before
