"""The label-conditioned calcium VAE, what it generates per class, and the tutorial's SVM and
weight-vector decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import calspike
from calspike.models import CalciumVAE
from calspike.training import load_model, save_model
from calspike.tutorial import generative, workflows
from calspike.windows import sampling


def test_conditional_vae_takes_the_label_in_encoder_and_decoder():
    torch.manual_seed(0)
    model = CalciumVAE(length=20, channels=3, hidden=8, latent=4, conditional=True).eval()
    x = torch.randn(5, 20, 3)
    spike, no_spike = torch.ones(5), torch.zeros(5)
    assert model.encoder.lstm.input_size == 4 and model.decoder.input_size == 5
    assert model.encode(x, did_spike=spike).shape == (5, 4)
    assert not torch.equal(model.encode(x, did_spike=spike), model.encode(x, did_spike=no_spike))
    z = torch.randn(5, 4)
    assert not torch.equal(model.decode(z, did_spike=True), model.decode(z, did_spike=False))
    assert model.sample(7, did_spike=True).shape == (7, 20)
    loss, stats = model.step(x, spike)
    assert loss.ndim == 0 and {"mse", "kl"} <= set(stats)
    with pytest.raises(ValueError, match="needs did_spike"):
        model.encode(x)
    with pytest.raises(ValueError, match="needs the spike labels"):
        model.step(x, None)
    with pytest.raises(ValueError, match="one label per window"):
        model.decode(z, did_spike=torch.ones(3))
    with pytest.raises(ValueError, match="only for a conditional"):
        CalciumVAE(length=20).decode(torch.zeros(1, 256), did_spike=True)


def test_conditional_vae_checkpoint_round_trip(tmp_path):
    model = CalciumVAE(length=12, channels=2, hidden=8, latent=4, conditional=True).eval()
    save_model(model, tmp_path / "c.pt")
    loaded = load_model(tmp_path / "c.pt")
    assert isinstance(loaded, CalciumVAE) and loaded.conditional
    z = torch.randn(3, 4)
    assert torch.equal(loaded.decode(z, did_spike=True), model.decode(z, did_spike=True))


def test_centred_windows_keep_their_shape_and_units(simulated_windows):
    train = simulated_windows[0]
    centred = generative.centred(train)
    assert np.allclose(centred.windows.mean(axis=1), 0, atol=1e-5)
    assert np.allclose(np.diff(centred.windows, axis=1), np.diff(train.windows, axis=1), atol=1e-5)
    assert centred.did_spike is train.did_spike and centred.params == train.params


def test_rise_and_its_comparison():
    windows = np.zeros((4, 6))
    windows[:2, 3:] = 1.0  # two windows rise by 1 after the centre frame
    assert generative.rise(windows, 3).tolist() == [1.0, 1.0, 0.0, 0.0]
    labels = np.array([True, True, False, False])
    good = generative.compare_rises(windows[:2], windows[2:], windows, labels, 3)
    assert good["spike_within_real_spread"] and good["spike_above_no_spike"]
    flat = generative.compare_rises(windows[2:], windows[2:], windows, labels, 3)
    assert not flat["spike_within_real_spread"] and not flat["spike_above_no_spike"]
    with pytest.raises(ValueError, match="len_pre"):
        generative.rise(windows, 6)
    with pytest.raises(ValueError, match="both spike and no-spike"):
        generative.compare_rises(windows, windows, windows, np.ones(4, bool), 3)


@pytest.fixture(scope="module")
def simulated_windows():
    recordings = calspike.default_recordings(0)
    held_out = calspike.partition(recordings, normalize="neuron", skip=10)
    training = calspike.partition(recordings, normalize="neuron", skip=5)
    split = sampling.neuron_split(held_out, 0)
    train = training.subset(
        sampling.labelled_subset(training, split["train"], max_windows=12_000, seed=0)
    )
    val = held_out.subset(sampling.labelled_subset(held_out, split["val"], seed=0))
    test = held_out.subset(sampling.labelled_subset(held_out, split["test"], seed=0))
    return train, val, test


def test_conditional_vae_draws_spike_traces_that_rise_like_real_spike_windows(simulated_windows):
    """The acceptance check on simulated data (the report shows it on real data): traces drawn
    for "spike" rise after the centre frame within the spread of real spike windows, and above
    the midpoint between the classes; the latents, drawn from q(z|x), leave the label to the
    decoder."""
    from calspike.tutorial import analysis

    train, val, test = (generative.centred(w) for w in simulated_windows)
    kinds = ["raw", "delta"]
    vae = workflows.train_vae(
        train,
        val,
        kinds=kinds,
        conditional=True,
        hidden=32,
        latent=32,
        beta=0.1,
        epochs=20,
        device="cpu",
        progress=False,
    ).model
    spike, no_spike = generative.generate_by_class(vae, 400, seed=0)
    summary = generative.compare_rises(spike, no_spike, test.windows, test.did_spike, 10)
    assert summary["spike_within_real_spread"] and summary["spike_above_no_spike"], summary
    assert summary["generated_spike_rise"] > summary["generated_no_spike_rise"] + 0.3
    probe_train = train.subset(np.arange(5000))

    def draws(windows):
        return workflows.latent_means(vae, windows, kinds, draw_seed=0)

    probe = analysis.linear_probe(
        draws(probe_train), probe_train.did_spike, draws(test), test.did_spike
    )
    assert probe.test_balanced_accuracy < 0.65  # near chance: the label is not in the latents
    walk = generative.traverse(vae, workflows.latent_means(vae, test, kinds))
    assert set(walk.traces) == {"spike", "no spike"} and walk.traces["spike"].shape == (5, 20)


def test_tutorial_svm_scores_where_the_tutorial_did_and_decodes_coef(simulated_windows):
    train, _, test = simulated_windows
    kinds = ["raw"]
    vae = workflows.train_vae(
        train.subset(np.arange(2000)),
        None,
        kinds=kinds,
        hidden=8,
        latent=6,
        epochs=1,
        device="cpu",
        progress=False,
    ).model
    fresh = train.subset(np.arange(2000, 3000))
    result = generative.tutorial_svm(
        vae,
        workflows.latent_means(vae, fresh, kinds),
        fresh.did_spike,
        workflows.latent_means(vae, test, kinds),
        test.did_spike,
    )
    assert result.confusion_fitted.sum() == pytest.approx(
        1.0
    ) and result.confusion_held_out.sum() == pytest.approx(1)
    assert result.decoded is not None and result.decoded.shape == (2, 20)
    assert 0.0 <= result.balanced_accuracy_held_out <= 1.0
