"""The models: shapes, configs, argument checks, and that each one learns on small data."""

import numpy as np
import pytest
import torch

from calspike.models import (
    CalciumVAE,
    SpikeClassifier,
    SpikeRateModel,
    ToyVAE,
    build_model,
    one_hot_digits,
)
from calspike.models.base import repeated_input_lstm
from calspike.training import evaluate, fit


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_shapes(bidirectional):
    model = SpikeClassifier(
        channels=3, hidden=8, layers=2, bidirectional=bidirectional, dropout=0.1
    )
    x = torch.randn(5, 20, 3)
    assert model(x).shape == (5,)
    probability = model.predict_proba(x)
    assert probability.shape == (5,) and bool(((probability > 0) & (probability < 1)).all())
    one_channel = SpikeClassifier()
    assert one_channel(torch.randn(4, 20)).shape == (4,)  # (N, L) is one channel
    rebuilt = build_model("SpikeClassifier", model.config)
    rebuilt.load_state_dict(model.state_dict())


def test_vae_shapes_encode_decode_sample():
    model = CalciumVAE(length=20, hidden=8, latent=6).eval()
    x = torch.randn(7, 20)
    reconstruction, mean, log_var = model(x)
    assert reconstruction.shape == (7, 20) and mean.shape == log_var.shape == (7, 6)
    # encode, forward and sample reach the same numbers by different calls: equal to rounding
    torch.testing.assert_close(model.encode(x), mean)
    _mean2, log_var2 = model.encode(x, return_log_var=True)
    torch.testing.assert_close(log_var2, log_var)
    assert model.decode(mean).shape == (7, 20)
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 20)
    torch.testing.assert_close(model.sample(mean), model.decode(mean))
    with pytest.raises(ValueError, match=r"latent vectors must have shape \(N, 6\)"):
        model.decode(torch.randn(2, 5))


def test_toy_vae_takes_labels_or_one_hot():
    model = ToyVAE().eval()
    digits = torch.tensor([0, 3, 9])
    torch.testing.assert_close(
        model.encode(digits), model.encode(torch.nn.functional.one_hot(digits, 10).float())
    )
    assert model.decode(torch.zeros(2, 2)).shape == (2, 10)
    data = one_hot_digits(100, seed=1)
    assert data.shape == (100, 10) and torch.equal(data.sum(dim=1), torch.ones(100))
    assert torch.equal(data, one_hot_digits(100, seed=1))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        # checked by the settings' schema (calspike.config), each size with an upper bound too
        (lambda: SpikeClassifier(hidden=0), r"hidden must be in \[1, 4096\], got 0"),
        (lambda: SpikeClassifier(hidden=10**6), r"hidden must be in \[1, 4096\]"),
        (lambda: SpikeClassifier(channels=2.0), "channels must be an integer"),
        (lambda: SpikeClassifier(dropout=1.0), r"dropout must be in \[0, 0.95\]"),
        (lambda: CalciumVAE(length=0), r"length must be in \[1, "),
        (lambda: CalciumVAE(length=20, beta=-1), r"beta must be in \[0, "),
        (lambda: ToyVAE(beta=float("nan")), "beta must be finite"),
        (lambda: SpikeRateModel(channels=10**7), r"channels must be in \[1, 1024\]"),
        (lambda: SpikeRateModel(dilations=[1, 10**9]), r"dilation must be in \[1, 1024\]"),
        (lambda: SpikeRateModel(dilations=[]), "dilations must be 1 to 64 integers"),
        (lambda: SpikeRateModel(smooth=1e12), r"smooth must be in \[0, 1000\]"),
        (lambda: SpikeRateModel(gain=0.5), r"gain must be in \[1, 100\]"),
        (lambda: SpikeRateModel(rate=0.0), "rate must be a frame rate"),
        (lambda: build_model("GAN", {}), "unknown model kind 'GAN'"),
    ],
)
def test_bad_model_arguments(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_bad_window_shape():
    with pytest.raises(ValueError, match=r"expected windows of shape \(N, L\) or \(N, L, C\)"):
        SpikeClassifier()(torch.randn(2, 3, 4, 5))


def _learnable_windows(count: int, seed: int):
    """Simulated calcium windows: a spike at the centre adds a decaying transient."""
    import calspike

    recording = calspike.simulate(12, 20_000, 100.0, seed=seed)
    windows = calspike.balance(
        calspike.partition(recording, normalize="neuron"), per_class=count // 2, seed=seed
    )
    return calspike.features(windows, ["raw", "delta"]), windows.did_spike


def test_classifier_learns():
    x, y = _learnable_windows(2000, seed=1)
    x_test, y_test = _learnable_windows(1000, seed=2)
    torch.manual_seed(0)
    model = SpikeClassifier(channels=2, hidden=16)
    before = evaluate(model, x_test, y_test, device="cpu")
    fit(model, x, y, epochs=8, batch_size=64, lr=3e-3, progress=False)
    after = evaluate(model, x_test, y_test, device="cpu")
    assert after["loss"] < 0.75 * before["loss"]
    assert after["accuracy"] > 0.75  # chance is 0.5 on balanced windows


def test_calcium_vae_learns():
    x, _ = _learnable_windows(2000, seed=3)
    torch.manual_seed(0)
    model = CalciumVAE(length=20, channels=2, hidden=32, latent=16)
    before = evaluate(model, x, device="cpu")
    result = fit(model, x, epochs=10, batch_size=64, lr=3e-3, progress=False)
    after = evaluate(model, x, device="cpu")
    assert after["mse"] < 0.4 * before["mse"], result.history
    variance = float(np.var(x[..., 0]))
    assert 1 - after["mse"] / variance > 0.6  # explained variance of the windows


def test_toy_vae_learns():
    data = one_hot_digits(2000, seed=0)
    torch.manual_seed(0)
    model = ToyVAE(loss="cross_entropy")
    before = evaluate(model, data, device="cpu")
    fit(model, data, epochs=15, batch_size=64, lr=1e-2, progress=False)
    after = evaluate(model, data, device="cpu")
    assert after["loss"] < 0.2 * before["loss"]
    assert after["accuracy"] > 0.95  # ten digits: chance is 0.1
    latent = model.encode(torch.arange(10)).detach().numpy()
    assert len({tuple(np.round(z, 1)) for z in latent}) == 10  # every digit has its own place


@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_toy_vae_learns_with_either_reconstruction_error(loss):
    data = one_hot_digits(2000, seed=0)
    torch.manual_seed(0)
    model = ToyVAE(loss=loss)
    fit(
        model,
        data,
        epochs=15,
        batch_size=32,
        lr=1e-2,
        progress=False,
        schedule="constant",
        clip=None,
    )
    assert evaluate(model, data, device="cpu")["accuracy"] > 0.8
    with pytest.raises(ValueError, match="loss must be one of"):
        ToyVAE(loss="huber")


def test_toy_vae_squared_error_is_the_mean_over_the_outputs():
    model = ToyVAE(beta=0.0).eval()
    x = one_hot_digits(8, seed=1)
    loss, _ = model.step(x, None)
    torch.testing.assert_close(loss, ((model.decode(model.encode(x)) - x) ** 2).mean(dim=1).sum())


def test_the_decoder_lstm_shortcut_equals_the_lstm_fed_the_same_input_at_each_step():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 4, batch_first=True)
    steps = torch.randn(3, 5, requires_grad=True)
    expected = lstm(steps.unsqueeze(1).expand(-1, 7, -1))[0]
    got = repeated_input_lstm(lstm, steps, 7)
    assert got.shape == (3, 7, 4)
    torch.testing.assert_close(got, expected)
    weights = [steps, *lstm.parameters()]
    for ours, theirs in zip(
        torch.autograd.grad(got.square().sum(), weights),
        torch.autograd.grad(expected.square().sum(), weights),
        strict=True,
    ):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize(
    "options", [{"num_layers": 2}, {"bidirectional": True}, {"bias": False}, {"batch_first": False}]
)
def test_the_shortcut_runs_any_other_lstm_as_itself(options):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 4, **{"batch_first": True, **options})
    steps = torch.randn(3, 5)
    sequence = (
        steps.unsqueeze(1).expand(-1, 7, -1)
        if lstm.batch_first
        else steps.unsqueeze(0).expand(7, -1, -1)
    )
    expected = lstm(sequence)[0]
    expected = expected if lstm.batch_first else expected.transpose(0, 1)
    torch.testing.assert_close(repeated_input_lstm(lstm, steps, 7), expected)
