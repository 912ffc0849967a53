"""Frame-rate conversion, the spike-rate model's inference and training, suite2p input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import calspike
from calspike import preprocess
from calspike.cli import main
from calspike.data import Recording
from calspike.data.suite2p import read_suite2p, running_percentile
from calspike.models import SpikeRateModel
from calspike.preprocess import fill_gaps, rebin_counts, resample, resampled_length
from calspike.spikes import rate as spike_rate
from calspike.spikes import rate_training
from calspike.spikes.score import poisson_information_gain, score_neurons
from calspike.training import load_checkpoint

# ---------------------------------------------------------------- resampling (C++)


def test_resampled_length_covers_the_input():
    assert resampled_length(8, 100, 25) == 2 and resampled_length(9, 100, 25) == 3
    assert resampled_length(997, 100, 30) == 300 and resampled_length(300, 30, 100) == 1000
    with pytest.raises(ValueError, match="rate_in"):
        resampled_length(10, 0, 25)


def test_resample_keeps_slow_signals_and_removes_aliases():
    t = np.arange(20_000) / 100.0
    slow = np.sin(2 * np.pi * 1.0 * t)[None, :]
    fast = np.sin(2 * np.pi * 20.0 * t)[None, :]  # above 25 Hz's Nyquist frequency (12.5 Hz)
    out, lengths = resample(slow, 100, 25)
    assert lengths.tolist() == [5_000] and out.dtype == np.float32
    t_out = (np.arange(5_000) + 0.5) / 25 - 0.5 / 100  # output centres, in the input's sample times
    assert np.max(np.abs(out[0, 10:-10] - np.sin(2 * np.pi * t_out[10:-10]))) < 0.03
    aliased, _ = resample(fast, 100, 25)
    assert np.abs(aliased[0, 10:-10]).max() < 0.1  # plain decimation would keep amplitude ~1
    assert np.abs(fast[0, ::4]).max() > 0.9


def test_resample_upsamples_linearly_and_keeps_constants():
    ramp = np.arange(100, dtype=np.float64)[None, :]
    up, _ = resample(ramp, 10, 40)
    centres = (np.arange(400) + 0.5) / 4 - 0.5
    np.testing.assert_allclose(up[0, 4:-4], centres[4:-4], atol=1e-4)
    for rate_in, rate_out in ((100, 25), (30, 25), (7.5, 25), (100, 33.3)):
        out, _ = resample(np.full((2, 1_000), 3.5, np.float32), rate_in, rate_out)
        np.testing.assert_allclose(out, 3.5, rtol=1e-6)


def test_resample_layouts_lengths_and_ownership():
    values = np.random.default_rng(0).standard_normal((4, 1_000))
    reference, _ = resample(values, 100, 30)
    for variant in (values.astype(np.float32), np.asfortranarray(values)):
        np.testing.assert_allclose(resample(variant, 100, 30)[0], reference, atol=1e-5)
    out, lengths = resample(values, 100, 30, lengths=[1_000, 500, 0, 10])
    assert lengths.tolist() == [300, 150, 0, 3] and out.shape == (4, 300)
    assert (
        np.isnan(out[1, 150:]).all() and np.isfinite(out[1, :150]).all() and np.isnan(out[2]).all()
    )
    assert not out.flags.owndata and out.base is not None  # handed over by C++, not copied
    with pytest.raises(ValueError, match="lengths"):
        resample(values, 100, 30, lengths=[1, 2])
    with pytest.raises(ValueError, match="2-D"):
        resample(np.zeros((2, 2, 2)), 100, 30)


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 400),
    rate_in=st.floats(1, 200),
    rate_out=st.floats(1, 200),
    seed=st.integers(0, 99),
)
def test_rebin_counts_conserves_spikes(frames, rate_in, rate_out, seed):
    counts = np.random.default_rng(seed).poisson(0.3, (2, frames)).astype(np.float64)
    length = resampled_length(frames, rate_in, rate_out)
    out = rebin_counts(counts, rate_in, rate_out, [length, length])
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=1), counts.sum(axis=1), rtol=1e-5, atol=1e-4)


def test_rebin_counts_sums_and_shares_exactly():
    counts = np.random.default_rng(1).poisson(0.5, (3, 400)).astype(np.float32)
    down = rebin_counts(counts, 100, 25, [100] * 3)
    np.testing.assert_allclose(down, counts.reshape(3, 100, 4).sum(axis=2), atol=1e-5)
    up = rebin_counts(down, 25, 100, [400] * 3)
    np.testing.assert_allclose(up, np.repeat(down / 4, 4, axis=1), atol=1e-6)


def test_fill_gaps_interpolates_and_marks_dropped_frames():
    trace = np.arange(10, dtype=np.float32)[None, :].repeat(2, axis=0)
    trace[0, 3:6] = np.nan
    trace[1, :2] = np.nan
    trace[1, 8:] = np.nan  # padding when lengths says 8
    filled, dropped = fill_gaps(trace, lengths=[10, 8])
    np.testing.assert_allclose(filled[0], np.arange(10))
    assert filled[1, :2].tolist() == [2, 2] and np.isnan(filled[1, 8:]).all()
    assert np.flatnonzero(dropped[0]).tolist() == [3, 4, 5] and np.flatnonzero(
        dropped[1]
    ).tolist() == [0, 1]
    with pytest.raises(ValueError, match="neuron 0"):
        fill_gaps(np.full((1, 5), np.nan))


# ---------------------------------------------------------------- noise level


def test_noise_level_is_the_standard_definition():
    rng = np.random.default_rng(2)
    for rate in (7.5, 30.0, 100.0):
        noise = rng.standard_normal((1, 200_000)) * 0.1
        expected = 0.6745 * np.sqrt(2) * 0.1 / np.sqrt(rate)  # median |difference| of white noise
        assert preprocess.noise_levels(noise, rate)[0] == pytest.approx(expected, rel=0.02)
    gappy = noise.copy()
    gappy[0, 100:200] = np.nan
    assert np.isfinite(preprocess.noise_levels(gappy, 100.0)).all()


# ---------------------------------------------------------------- inference


@pytest.fixture(scope="module")
def default_model():
    return spike_rate.load_rate_model()


def test_default_model_ships_small_and_loads_offline(default_model):
    model, metadata = default_model
    path = spike_rate.default_model_path()
    assert path.is_file() and path.stat().st_size < 5 * 2**20
    assert isinstance(model, SpikeRateModel) and not model.training and model.rate == 25.0
    low, high = metadata["normalised_noise_range"]
    assert 0 < low < high and len(metadata["train_neurons"]) > 10


def test_inference_covers_every_frame_and_masks_dropped_ones(default_model):
    model, metadata = default_model
    recording = calspike.simulate(3, 6_000, rate=30.0, seed=4)
    clean, info = spike_rate.infer_spike_rates(
        recording, model=model, metadata=metadata, device="cpu"
    )
    assert (
        clean.shape == (3, 6_000) and np.isfinite(clean).all() and (clean >= 0).all()
    )  # edges included
    assert info["noise_level"].shape == (3,) and np.isfinite(info["noise_level"]).all()
    gappy = np.array(recording.calcium)
    gappy[1, 3_000:3_030] = np.nan  # one second of dropped frames
    out, _ = spike_rate.infer_spike_rates(gappy, 30.0, model=model, metadata=metadata, device="cpu")
    assert np.flatnonzero(np.isnan(out[1])).tolist() == list(range(3_000, 3_030))
    np.testing.assert_allclose(out[[0, 2]], clean[[0, 2]], rtol=1e-5, atol=1e-6)
    far = np.r_[0:2_850, 3_180:6_000]  # beyond the model's context (66 frames at 25 Hz = 2.6 s)
    np.testing.assert_allclose(out[1, far], clean[1, far], rtol=1e-3, atol=1e-4)
    assert np.isfinite(out[1, 2_850:3_000]).all() and np.isfinite(out[1, 3_030:3_180]).all()


def test_inference_is_independent_of_tiles_and_chunks(default_model):
    model, metadata = default_model
    recording = calspike.simulate(5, 9_000, rate=100.0, seed=5)
    reference, _ = spike_rate.infer_spike_rates(
        recording, model=model, metadata=metadata, device="cpu"
    )
    for tile, chunk in ((512, 2), (100_000, 1)):
        out, _ = spike_rate.infer_spike_rates(
            recording, model=model, metadata=metadata, device="cpu", tile=tile, chunk_neurons=chunk
        )
        np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-6)


def test_subframes_are_each_output_frames_own_channels():
    """With subframes s the input is s times finer: input frame s * (j + radius) + k is channel k
    of output j."""
    torch.manual_seed(0)
    model = SpikeRateModel(subframes=2, dilations=(1,)).eval()
    assert model.input_rate == 50.0 and model.radius == 4
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.inlet.weight[:, 1, 3] = 1.0  # the centre tap of the second subframe only
        model.outlet.weight.fill_(1.0)
    frames = 20
    quiet = model(torch.zeros(1, 2 * (frames + 2 * model.radius)))[0]
    for j, k in ((0, 1), (7, 1), (7, 0), (19, 1)):
        x = torch.zeros(1, 2 * (frames + 2 * model.radius))
        x[0, 2 * (j + model.radius) + k] = 1.0
        changed = torch.nonzero(model(x)[0] != quiet).flatten().tolist()
        assert changed == ([j] if k == 1 else [])
    with pytest.raises(ValueError, match="2 x"):
        model(torch.zeros(1, 2 * (frames + 2 * model.radius) + 1))


def test_an_ensemble_is_its_members_mean_and_trains_each_on_its_own_loss():
    torch.manual_seed(2)
    ensemble = SpikeRateModel(subframes=2, channels=8, members=3, dilations=(1, 2)).eval()
    singles = [SpikeRateModel(subframes=2, channels=8, dilations=(1, 2)).eval() for _ in range(3)]
    with torch.no_grad():  # member k's weights are the k-th slice of every grouped layer
        for k, single in enumerate(singles):
            rows = slice(8 * k, 8 * (k + 1))
            for name, parameter in single.named_parameters():
                whole = dict(ensemble.named_parameters())[name]
                parameter.copy_(whole[k : k + 1] if name.startswith("outlet") else whole[rows])
    x = torch.randn(4, 2 * (30 + 2 * ensemble.radius))
    y = torch.poisson(torch.full((4, 30), 0.3))
    members = torch.stack([single(x) for single in singles], dim=1)
    torch.testing.assert_close(ensemble.member_rates(x), members)
    torch.testing.assert_close(ensemble(x), members.mean(dim=1))
    losses = torch.stack([single.step(x, y)[0] for single in singles])
    torch.testing.assert_close(ensemble.step(x, y)[0], losses.mean())
    assert not torch.allclose(members[:, 0], members[:, 1])  # initialised apart


def test_subframes_inference_and_training_chunks():
    torch.manual_seed(1)
    model = SpikeRateModel(subframes=2).eval()
    recording = calspike.simulate(3, 7_001, rate=97.0, seed=5)
    reference, info = spike_rate.infer_spike_rates(recording, model=model, device="cpu")
    assert reference.shape == (3, 7_001) and np.isfinite(reference).all()
    assert np.isfinite(info["normalised_noise_level"]).all()  # measured at the 50 Hz input
    tiled, _ = spike_rate.infer_spike_rates(
        recording, model=model, device="cpu", tile=100, chunk_neurons=2
    )
    np.testing.assert_allclose(tiled, reference, rtol=1e-4, atol=1e-6)
    chunks = rate_training.rate_training_set(
        [recording], 25.0, 10, chunk=128, stride=64, augment_rates=(), subframes=2
    )
    assert chunks.inputs.shape[1] == 2 * (128 + 20) and chunks.counts.shape[1] == 128
    # the first chunk: the trace at 50 Hz, normalised, its first value repeated 2 x 10 times
    # before it
    fine, _ = resample(recording.calcium[:1], 97.0, 50.0)
    length = min(fine.shape[1] // 2, resampled_length(7_001, 97.0, 25.0))
    normalised = preprocess.robust_normalise(fine[:, : 2 * length], [2 * length])[0]
    np.testing.assert_allclose(
        chunks.inputs[0, 20:], normalised[: 2 * 128 + 20], rtol=1e-6, atol=1e-6
    )
    assert (chunks.inputs[0, :20] == chunks.inputs[0, 20]).all()


def test_inference_conserves_expected_spikes_across_frame_rates(default_model):
    model, metadata = default_model
    recording = calspike.simulate(4, 30_000, rate=100.0, seed=6)
    at_100, _ = spike_rate.infer_spike_rates(
        recording, model=model, metadata=metadata, device="cpu"
    )
    slower, _ = resample(recording.calcium, 100.0, 30.0)
    at_30, _ = spike_rate.infer_spike_rates(
        slower, 30.0, model=model, metadata=metadata, device="cpu"
    )
    # the same seconds of activity give about as many spikes, whatever the frame rate
    np.testing.assert_allclose(at_30.sum(axis=1), at_100.sum(axis=1), rtol=0.15)
    assert score_neurons(recording.spikes, at_100)["correlation"].mean() > 0.5


def test_unfamiliar_noise_level_warns(default_model):
    model, metadata = default_model
    # noise-free traces (already denoised, say) are smoother than anything the model saw
    # (0.001 Hz: the shipped model met traces of 2.5 Hz recordings upsampled to its 100 Hz
    # input, smooth enough that its range starts at 2e-5)
    smooth = np.sin(2 * np.pi * 0.001 * np.arange(30_000) / 100.0)[None, :].repeat(2, axis=0)
    with pytest.warns(spike_rate.NoiseWarning, match="outside the model's training range"):
        spike_rate.infer_spike_rates(smooth, 100.0, model=model, metadata=metadata, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spike_rate.infer_spike_rates(
            calspike.simulate(2, 3_000, seed=8), model=model, metadata=metadata, device="cpu"
        )


def test_inference_rejects_bad_input(default_model):
    model, _ = default_model
    with pytest.raises(ValueError, match="rate"):
        spike_rate.infer_spike_rates(np.zeros((1, 100)), None, model=model)
    bad = np.zeros((1, 100))
    bad[0, 5] = np.inf
    with pytest.raises(ValueError, match="neuron 0, frame 5"):
        spike_rate.infer_spike_rates(bad, 30.0, model=model)


def test_windowing_refuses_dropped_frames():
    calcium = np.ones((1, 200), np.float32)
    calcium[0, 50] = np.nan
    recording = Recording(calcium, 30.0, gaps=True)
    with pytest.raises(ValueError, match="NaN"):
        calspike.partition(recording)
    with pytest.raises(ValueError, match="NaN"):
        Recording(calcium, 30.0)


# ---------------------------------------------------------------- training


def test_rate_model_learns_on_simulated_data():
    train = [calspike.simulate(6, 12_000, rate=60.0, seed=9)]
    test = calspike.simulate(3, 12_000, rate=60.0, seed=10)
    torch.manual_seed(0)
    result = rate_training.train_rate_model(
        train, epochs=4, validation=None, device="cpu", progress=False, augment_rates=(30.0,)
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    predicted, _ = spike_rate.infer_spike_rates(test, model=result.model, device="cpu")
    scores = score_neurons(test.spikes, predicted, rate=60.0)
    assert scores["correlation"].mean() > 0.5 and scores["info_gain"].mean() > 0


def test_training_set_chunks_and_rate_versions():
    recording = calspike.simulate(2, 4_000, rate=100.0, seed=11)
    chunks = rate_training.rate_training_set(
        [recording], 25.0, 10, chunk=128, stride=64, augment_rates=(30.0, 200.0)
    )
    assert chunks.inputs.shape[1] == 128 + 20 and chunks.counts.shape[1] == 128
    assert sorted(np.unique(chunks.version).tolist()) == [0, 1]  # 200 Hz is not slower than 100 Hz
    total = recording.spikes.sum()
    as_recorded = chunks.counts[chunks.version == 0]
    assert (
        0.5 * total < as_recorded.sum() / 2 < 1.1 * total
    )  # stride = chunk / 2: each frame in ~2 chunks
    with pytest.raises(ValueError, match="spike counts"):
        rate_training.rate_training_set([Recording(recording.calcium, 100.0)], 25.0, 10)


@pytest.mark.slow
def test_rate_model_generalises_to_an_unseen_dataset(real_recordings):
    """Trained on SpikeFinder datasets 5 and 6 only, scored on dataset 4 (CV in
    bench_spikefinder)."""
    train, test = real_recordings[1:], real_recordings[0]
    torch.manual_seed(0)
    model = rate_training.train_rate_model(
        train, epochs=3, validation=None, device="cpu", progress=False
    ).model
    predicted, _ = spike_rate.infer_spike_rates(test, model=model, device="cpu")
    truth = np.where(np.arange(test.frames) < test.lengths[:, None], test.spikes, np.nan)
    ours = score_neurons(truth, predicted)["correlation"].mean()
    oasis = score_neurons(truth, calspike.deconvolve(test).spikes)["correlation"].mean()
    assert ours > oasis and ours > 0.3


def test_cli_train_rate_then_infer_with_it(tmp_path, capsys):
    recording = calspike.simulate(4, 6_000, rate=50.0, seed=12)
    np.savez(tmp_path / "train.npz", calcium=recording.calcium, spikes=recording.spikes, rate=50.0)
    checkpoint, small = tmp_path / "rate.pt", tmp_path / "small.pt"
    assert (
        main(
            [
                "train-rate",
                str(tmp_path / "train.npz"),
                "-o",
                str(checkpoint),
                "--epochs",
                "2",
                "--validation",
                "0.25",
                "--channels",
                "8",
                "--members",
                "2",
                "--subframes",
                "2",
                "--warps",
                "0.8, 1.25",
                "--export",
                str(small),
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (
        "2 epochs" in capsys.readouterr().out and small.stat().st_size < checkpoint.stat().st_size
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
                "50",
                "--model",
                str(small),
                "--no-progress",
            ]
        )
        == 0
    )
    sidecar = json.loads((tmp_path / "out.npy.json").read_text())
    assert (
        sidecar["model_config"]["channels"] == 8
        and len(sidecar["recordings"][0]["noise_level"]) == 4
    )
    assert sidecar["model_config"]["members"] == 2 and sidecar["model_config"]["subframes"] == 2
    assert load_checkpoint(checkpoint)["extra"]["time_warps"] == [0.8, 1.25]
    assert np.load(tmp_path / "out.npy").shape == (4, 6_000)
    assert (
        main(["train-rate", str(tmp_path / "calcium.npy"), "-o", str(checkpoint), "--rate", "50"])
        == 1
    )
    assert "spike counts" in capsys.readouterr().err
    for bad in (
        ["--epochs", "0"],
        ["--validation", "1.5"],
        ["--channels", "two"],
        ["--rate", "-3"],
        ["--members", "0"],
        ["--subframes", "17"],
        ["--warps", "fast"],
        ["--warps", "0.5,20"],
    ):
        with pytest.raises(SystemExit) as code:
            main(["train-rate", str(tmp_path / "train.npz"), "-o", str(checkpoint), *bad])
        assert code.value.code == 2 and bad[0] in capsys.readouterr().err


# ---------------------------------------------------------------- suite2p


@pytest.fixture()
def plane(tmp_path):
    recording = calspike.simulate(4, 9_000, rate=30.0, seed=13)
    rng = np.random.default_rng(13)
    neuropil = 50 + 5 * rng.standard_normal((5, 9_000))
    cells = 200 + 100 * np.vstack([recording.calcium, np.zeros((1, 9_000))])
    folder = tmp_path / "suite2p" / "plane0"
    folder.mkdir(parents=True)
    np.save(folder / "F.npy", (cells + 0.7 * neuropil).astype(np.float32))
    np.save(folder / "Fneu.npy", neuropil.astype(np.float32))
    np.save(folder / "iscell.npy", np.array([[1, 0.9], [1, 0.8], [0, 0.1], [1, 0.7], [0, 0.2]]))
    np.save(
        folder / "ops.npy", np.array({"fs": 30.0, "nplanes": 1}, dtype=object), allow_pickle=True
    )
    return folder, recording


def test_suite2p_plane_to_dff(plane):
    folder, recording = plane
    read = read_suite2p(folder)
    assert read.rois.tolist() == [0, 1, 3] and read.total_rois == 5 and read.recording.rate == 30.0
    dff = read.recording.calcium
    # F - 0.7 Fneu = 200 + 100 calcium exactly; its 8th percentile baseline lies near the trace's
    # floor
    assert np.abs(np.median(dff, axis=1)).max() < 0.5
    assert (
        np.corrcoef(dff[0], recording.calcium[0])[0, 1] > 0.95
    )  # the running baseline removes slow drift
    raw = read_suite2p(folder, rate=15.0, neuropil=0.0, baseline="none", cells_only=False)
    assert raw.recording.calcium.shape == (5, 9_000) and raw.recording.rate == 15.0
    np.testing.assert_allclose(raw.recording.calcium, np.load(folder / "F.npy"))


def test_suite2p_errors_name_the_file(plane, tmp_path):
    folder, _ = plane
    (folder / "ops.npy").unlink()
    with pytest.raises(FileNotFoundError, match="ops.npy"):
        read_suite2p(folder)
    np.save(folder / "iscell.npy", np.ones((3, 2)))
    with pytest.raises(calspike.DataError, match="iscell.npy"):
        read_suite2p(folder, rate=30.0)
    with pytest.raises(ValueError, match="baseline"):
        read_suite2p(folder, rate=30.0, baseline="magic")
    with pytest.raises(FileNotFoundError, match="not a suite2p plane"):
        read_suite2p(tmp_path)


def test_cli_infer_on_a_suite2p_plane(plane):
    folder, recording = plane
    output = folder / "spikes.npy"
    assert main(["infer", str(folder), "-o", str(output), "--no-progress"]) == 0
    spikes = np.load(output)
    assert (
        spikes.shape == (5, 9_000)
        and np.isnan(spikes[[2, 4]]).all()
        and np.isfinite(spikes[[0, 1, 3]]).all()
    )
    sidecar = json.loads((folder / "spikes.npy.json").read_text())
    assert (
        sidecar["recordings"][0]["rois"] == [0, 1, 3]
        and sidecar["recordings"][0]["neuropil"] == 0.7
    )
    truth = recording.spikes[[0, 1, 3]]
    assert score_neurons(truth, spikes[[0, 1, 3]], rate=30.0)["correlation"].mean() > 0.4


def test_running_percentile_follows_a_drifting_baseline():
    t = np.arange(30_000) / 30.0
    drift = 100 + 20 * np.sin(2 * np.pi * t / 3_000)  # slow against the 60 s window
    peaks = np.zeros_like(t)
    peaks[::300] = 50
    baseline = running_percentile((drift + peaks)[None, :], 8.0, 1_800)
    assert np.abs(baseline[0, 1_000:-1_000] - drift[1_000:-1_000]).max() < 2.0


# ---------------------------------------------------------------- information gain


def test_information_gain_rewards_information_and_only_that():
    rng = np.random.default_rng(14)
    rate = rng.gamma(0.3, 0.5, 40_000)
    counts = rng.poisson(rate).astype(float)
    assert poisson_information_gain(counts, rate) > 0.5
    assert poisson_information_gain(counts, 3.7 * rate) == pytest.approx(
        poisson_information_gain(counts, rate)
    )
    assert poisson_information_gain(counts, np.ones_like(rate)) == pytest.approx(0.0, abs=1e-9)
    assert poisson_information_gain(counts, rng.permutation(rate)) < 0
    assert np.isnan(poisson_information_gain(np.zeros(100), np.ones(100)))
