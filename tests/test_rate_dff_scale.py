"""The rate model that reads each trace's dF/F spread (``dff_scale``): calibrated counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import calspike
from calspike.data import Recording
from calspike.models import SpikeRateModel
from calspike.preprocess import robust_normalise, robust_scales
from calspike.spikes import rate as spike_rate
from calspike.spikes import rate_calibration, rate_training
from calspike.spikes.model_card import ModelCard
from calspike.training import load_model, save_model


def _model(dff_scale: bool, seed: int = 0) -> SpikeRateModel:
    torch.manual_seed(seed)
    return SpikeRateModel(channels=4, dilations=(1, 2), subframes=2, dff_scale=dff_scale).eval()


def test_the_spread_value_comes_first_and_moves_the_output():
    model = _model(True)
    width = model.subframes * (10 + 2 * model.radius)
    trace = torch.randn(3, width)
    quiet, loud = (torch.cat([torch.full((3, 1), v), trace], dim=1) for v in (-2.0, 2.0))
    assert model(quiet).shape == (3, 10)
    assert not torch.allclose(model(quiet), model(loud))  # the spread is read
    with pytest.raises(ValueError, match=r"1 \+ 2 x \(L \+"):
        model(trace)  # the trace alone is one value short
    plain = _model(False)
    assert plain.leading == 0 and plain(trace).shape == (3, 10)
    with pytest.raises(ValueError, match="dff_scale must be True or False"):
        SpikeRateModel(dff_scale=1)  # type: ignore[arg-type]


def test_checkpoints_without_the_key_load_as_plain_models(tmp_path):
    save_model(_model(False), tmp_path / "plain.pt")
    save_model(_model(True), tmp_path / "dff.pt")
    plain, dff = load_model(tmp_path / "plain.pt"), load_model(tmp_path / "dff.pt")
    assert "dff_scale" not in plain.config and not plain.dff_scale
    assert dff.config["dff_scale"] is True and dff.leading == 1


def test_augmentation_keeps_the_df_f_each_value_stands_for():
    """x' * spread' = x * spread, offsets aside: gain and noise change the SNR, not the dF/F."""
    torch.manual_seed(1)
    model = SpikeRateModel(channels=4, dilations=(1,), dff_scale=True, noise=0.0, gain=2.0)
    x = torch.cat([torch.full((64, 1), 0.3), torch.randn(64, 200)], dim=1)
    augmented = model._augment(x)
    before = (x[:, 1:] - x[:, 1:].mean(dim=1, keepdim=True)) * torch.exp(x[:, :1])
    after = (augmented[:, 1:] - augmented[:, 1:].mean(dim=1, keepdim=True)) * torch.exp(
        augmented[:, :1]
    )
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(augmented[:, 0], x[:, 0])  # the gains were drawn


def test_augmented_noise_moves_the_spread_by_sqrt_1_plus_s2():
    """With noise of sd s added and the chunk divided by sqrt(1 + s^2), the spread value grows
    by 0.5 ln(1 + s^2): x' exp(shift) - x is the noise (sd s) plus the offset."""
    torch.manual_seed(2)
    model = SpikeRateModel(channels=4, dilations=(1,), dff_scale=True, noise=2.0, gain=1.0)
    x = torch.cat([torch.zeros(32, 1), torch.randn(32, 4_000)], dim=1)
    augmented = model._augment(x)
    shift = augmented[:, 0] - x[:, 0]
    s = torch.sqrt(torch.expm1(2 * shift))  # the noise each chunk drew
    assert (s >= 0).all() and (s <= 2.0 + 1e-5).all() and s.max() > 0.5
    residual = augmented[:, 1:] * torch.exp(shift)[:, None] - x[:, 1:]
    torch.testing.assert_close(residual.std(dim=1), s, rtol=0.1, atol=0.02)


def test_robust_scales_are_the_normalisation_s_divisor():
    traces = np.random.default_rng(0).gamma(2.0, 0.05, (4, 3_000)).astype(np.float32)
    traces[1, 2_000:] = np.nan
    lengths = np.array([3_000, 2_000, 3_000, 0])
    spreads = robust_scales(traces, lengths)
    normalised = robust_normalise(traces, lengths)
    for row in range(3):
        n = lengths[row]
        centred = traces[row, :n] - np.median(traces[row, :n])
        np.testing.assert_allclose(
            centred / spreads[row], normalised[row, :n], rtol=1e-4, atol=1e-5
        )
    assert spreads[3] == 1.0  # an empty trace
    np.testing.assert_allclose(spike_rate.dff_scale_values(np.array([0.05, 0.05 * math.e])), [0, 1])


def test_training_chunks_start_with_their_trace_s_spread():
    recording = calspike.simulate(2, 4_000, rate=100.0, seed=11)
    plain = rate_training.rate_training_set([recording], 25.0, 10, chunk=128, augment_rates=())
    scaled = rate_training.rate_training_set(
        [recording], 25.0, 10, chunk=128, augment_rates=(), dff_scale=True
    )
    np.testing.assert_array_equal(scaled.inputs[:, 1:], plain.inputs)
    fine, _ = calspike.preprocess.resample(recording.calcium, 100.0, 25.0)
    expected = spike_rate.dff_scale_values(robust_scales(fine, [fine.shape[1]] * 2))
    np.testing.assert_allclose(np.unique(scaled.inputs[:, 0]), np.sort(expected), rtol=1e-5)


def test_a_dff_model_trains_and_its_counts_follow_the_df_f(tmp_path):
    """Trained on dF/F, it reads the size of transients: the same trace scaled changes its
    counts (a normalised-only model cannot tell), and traces far from the spreads it knows
    (raw fluorescence) are named in a warning."""
    recordings = [calspike.simulate(4, 6_000, rate=50.0, seed=s) for s in (1, 2)]
    model = SpikeRateModel(channels=8, dilations=(1, 2, 4), dff_scale=True)
    rate_training.train_rate_model(
        recordings,
        model=model,
        validation=None,
        epochs=2,
        progress=False,
        device="cpu",
        seed=0,
        checkpoint=tmp_path / "dff.pt",
    )
    trained, extra = spike_rate.load_rate_model(tmp_path / "dff.pt")
    card = ModelCard.from_dict(extra)
    assert isinstance(card.count_scale, float) and card.count_scale > 0  # fitted, recorded
    low, high = card.dff_spread_range
    spreads = robust_scales(recordings[0].calcium, recordings[0].lengths)
    assert low < spreads.min() and spreads.max() < high
    test = calspike.simulate(2, 6_000, rate=50.0, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", spike_rate.NoiseWarning)
        counts, info = spike_rate.infer_spike_rates(
            test, model=trained, metadata=extra, device="cpu"
        )
    np.testing.assert_allclose(
        info["dff_spread"],
        robust_scales(*calspike.preprocess.resample(test.calcium, 50.0, trained.input_rate)),
        rtol=1e-6,
    )
    raw = test.calcium * 1_000 + 5_000  # raw fluorescence, not dF/F
    with pytest.warns(spike_rate.NoiseWarning, match=r"2 neuron\(s\) \(0, 1\) have trace spreads"):
        scaled, _ = spike_rate.infer_spike_rates(
            raw, 50.0, model=trained, metadata=extra, device="cpu"
        )
    assert not np.allclose(scaled.sum(), counts.sum(), rtol=0.01)


def test_fit_rate_chunks_trains_a_plain_model_on_a_set_cut_with_spreads(monkeypatch):
    recording = calspike.simulate(3, 4_000, rate=100.0, seed=12)
    chunks = rate_training.rate_training_set(
        [recording], 25.0, 4, chunk=64, augment_rates=(), dff_scale=True
    )
    keep = np.arange(len(chunks.inputs))
    seen = []
    real_fit = rate_calibration.fit
    monkeypatch.setattr(
        rate_calibration,
        "fit",
        lambda model, x, y, **kw: seen.append(x) or real_fit(model, x, y, **kw),
    )
    for dff in (True, False):
        torch.manual_seed(0)
        model = SpikeRateModel(channels=4, dilations=(1,), dff_scale=dff)
        assert model.radius == 4
        trained = rate_calibration.fit_rate_chunks(
            model, chunks, keep, samples=64, balance=0.5, epochs=1, batch_size=32
        )
        assert trained is model
    rows = {row.tobytes() for row in chunks.inputs}
    assert all(row.tobytes() in rows for row in seen[0])  # the dff model: whole rows
    plain_rows = {row.tobytes() for row in chunks.inputs[:, 1:]}  # the plain one: less the spread
    assert seen[1].shape[1] == chunks.inputs.shape[1] - 1
    assert all(row.tobytes() in plain_rows for row in seen[1])


def test_cli_train_rate_dff_scale_then_infer(tmp_path, capsys):
    from calspike.cli import main

    recording = calspike.simulate(3, 4_000, rate=50.0, seed=13)
    np.savez(tmp_path / "train.npz", calcium=recording.calcium, spikes=recording.spikes, rate=50.0)
    argv = ["train-rate", str(tmp_path / "train.npz"), "-o", str(tmp_path / "m.pt")]
    argv += ["--epochs", "1", "--channels", "4", "--dff-scale", "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    model, extra = spike_rate.load_rate_model(tmp_path / "m.pt")
    assert model.dff_scale and ModelCard.from_dict(extra).dff_spread_range is not None
    np.save(tmp_path / "c.npy", recording.calcium)
    infer = ["infer", str(tmp_path / "c.npy"), "--rate", "50", "--model", str(tmp_path / "m.pt")]
    assert main([*infer, "-o", str(tmp_path / "p.npy")]) == 0
    assert np.isfinite(np.load(tmp_path / "p.npy")).all()
    capsys.readouterr()
    tuned = ["train-rate", str(tmp_path / "train.npz"), "--init", "default", "--dff-scale"]
    with pytest.raises(SystemExit) as usage:
        main([*tuned, "-o", str(tmp_path / "t.pt")])
    assert usage.value.code == 2
    assert "--init keeps the architecture of the model it starts from; drop --dff-scale" in (
        capsys.readouterr().err
    )


def test_count_scale_is_the_median_over_datasets_of_true_over_predicted_spikes():
    recordings = [calspike.simulate(3, 3_000, rate=25.0, seed=s, name=f"set{s}") for s in (21, 22)]
    recordings = [
        Recording(r.calcium, r.rate, spikes=r.spikes, name=r.name, metadata={"dataset": r.name})
        for r in recordings
    ]
    chunks = rate_training.rate_training_set(recordings, 25.0, 4, chunk=64, augment_rates=())
    model = SpikeRateModel(channels=4, dilations=(1,)).eval()
    with torch.no_grad():  # a constant 0.1 spikes per frame: softplus(b) = 0.1
        for parameter in model.parameters():
            parameter.zero_()
        model.outlet.bias.fill_(math.log(math.expm1(0.1)))
    keep = np.arange(len(chunks.inputs))
    frames = np.bincount(chunks.neuron, minlength=len(chunks.names)) * chunks.counts.shape[1]
    true = np.bincount(chunks.neuron, chunks.counts.sum(axis=1), minlength=len(chunks.names))
    per_dataset = [
        np.median((true / (0.1 * frames))[[i for i in range(6) if i // 3 == d]]) for d in (0, 1)
    ]
    assert rate_calibration.count_scale(model, chunks, keep) == pytest.approx(
        np.median(per_dataset), rel=1e-5
    )


def test_inference_multiplies_by_the_card_s_count_scale_and_checks_it():
    model = _model(False)
    traces = calspike.simulate(2, 2_000, rate=30.0, seed=5).calcium
    plain, _ = spike_rate.infer_spike_rates(traces, 30.0, model=model, device="cpu")
    scaled, _ = spike_rate.infer_spike_rates(
        traces, 30.0, model=model, metadata={"count_scale": 0.5}, device="cpu"
    )
    np.testing.assert_allclose(scaled, 0.5 * plain, rtol=1e-5, atol=1e-7)
    for bad in (0, -1.0, float("nan"), "2", True, 1e6):
        with pytest.raises(ValueError, match="count_scale must be a number in"):
            spike_rate.infer_spike_rates(
                traces, 30.0, model=model, metadata={"count_scale": bad}, device="cpu"
            )
