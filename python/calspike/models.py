"""calspike's models in PyTorch: the tutorial's LSTM spike classifier, calcium VAE and toy VAE,
and the convolutional spike-rate model.

Every model has the same small training interface, used by `calspike.train.fit`:
``step(x, y) -> (loss_sum, stats)`` returns the loss summed over the batch (so that
batches and DDP shards combine exactly) and a dict of summed statistics (e.g. the
number of correct predictions), and ``config`` holds the keyword arguments that rebuild
the model (`build_model(kind, config)`), so a checkpoint is plain data.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn


class CalspikeModel(nn.Module, metaclass=abc.ABCMeta):
    """What every calspike model has: a `kind`, the `config` that rebuilds it, and `step`."""

    kind: ClassVar[str]
    config: dict[str, Any]

    @abc.abstractmethod
    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss summed over the batch, summed statistics) of windows x (N, ...) and labels y (N,) or None."""


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _as_sequence(x: torch.Tensor) -> torch.Tensor:
    """(N, L) or (N, L, C) -> (N, L, C)."""
    if x.dim() == 2:
        return x.unsqueeze(-1)
    if x.dim() != 3:
        raise ValueError(f"expected windows of shape (N, L) or (N, L, C), got {tuple(x.shape)}")
    return x


class _LSTMEncoder(nn.Module):
    """(N, L, C) -> (N, hidden * directions): the last layer's final hidden state(s)."""

    def __init__(self, channels: int, hidden: int, layers: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            channels, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.out_features = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_n: torch.Tensor
        _, (h_n, _) = self.lstm(x)
        directions = 2 if self.lstm.bidirectional else 1
        return h_n[-directions:].transpose(0, 1).reshape(x.shape[0], -1)


class SpikeClassifier(CalspikeModel):
    """Feature windows (N, L, C) -> one spike logit per window (N,).

    LSTM (``hidden`` units, ``layers``, optionally bidirectional, ``dropout`` between
    layers and before the head) -> final state -> Linear -> logit. Trained with
    binary cross-entropy on logits; ``predict_proba`` applies the sigmoid.
    """

    kind: ClassVar[str] = "SpikeClassifier"

    def __init__(
        self, channels: int = 1, hidden: int = 64, layers: int = 1, bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = {
            "channels": _check_positive("channels", channels), "hidden": _check_positive("hidden", hidden),
            "layers": _check_positive("layers", layers), "bidirectional": bool(bidirectional),
            "dropout": _check_fraction("dropout", dropout),
        }
        self.encoder = _LSTMEncoder(channels, hidden, layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.out_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit: torch.Tensor = self.head(self.dropout(self.encoder(_as_sequence(x))))
        return logit.squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Spike probability per window, (N,)."""
        return torch.sigmoid(self(x).float())

    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if y is None:
            raise ValueError("SpikeClassifier needs labels y")
        logits = self(x).float()
        target = y.float()
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
        correct = ((logits > 0) == (target > 0.5)).sum()
        return loss, {"correct": correct.float()}


class CalciumVAE(CalspikeModel):
    """A variational autoencoder of calcium windows.

    Encoder: LSTM over (N, L, C) -> final state -> mean and log-variance heads (``latent``
    dimensions). Decoder: the latent vector repeated over the L steps -> LSTM (``hidden``,
    full sequence) -> Linear -> (N, L), a reconstruction of channel 0 of the input. Loss
    per window: squared error summed over the L frames / L (the mean squared error)
    + ``beta`` * KL(q(z|x) || N(0, I)).
    """

    kind: ClassVar[str] = "CalciumVAE"

    def __init__(
        self, length: int, channels: int = 1, hidden: int = 64, latent: int = 256, layers: int = 1,
        bidirectional: bool = False, dropout: float = 0.0, beta: float = 1e-4,
    ) -> None:
        super().__init__()
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ValueError(f"beta must be a number >= 0, got {beta!r}")
        self.config = {
            "length": _check_positive("length", length), "channels": _check_positive("channels", channels),
            "hidden": _check_positive("hidden", hidden), "latent": _check_positive("latent", latent),
            "layers": _check_positive("layers", layers), "bidirectional": bool(bidirectional),
            "dropout": _check_fraction("dropout", dropout), "beta": float(beta),
        }
        self.length, self.latent, self.beta = length, latent, float(beta)
        self.encoder = _LSTMEncoder(channels, hidden, layers, bidirectional, dropout)
        self.mean = nn.Linear(self.encoder.out_features, latent)
        self.log_var = nn.Linear(self.encoder.out_features, latent)
        self.decoder = nn.LSTM(latent, hidden, batch_first=True)
        self.output = nn.Linear(hidden, 1)

    def encode(self, x: torch.Tensor, return_log_var: bool = False) -> Any:
        """Latent means (N, latent) of windows (N, L) or (N, L, C); with their log-variances on request."""
        state = self.encoder(_as_sequence(x))
        mean = self.mean(state)
        return (mean, self.log_var(state)) if return_log_var else mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Traces (N, L) generated from latent vectors (N, latent)."""
        if z.dim() != 2 or z.shape[1] != self.latent:
            raise ValueError(f"latent vectors must have shape (N, {self.latent}), got {tuple(z.shape)}")
        sequence, _ = self.decoder(z.unsqueeze(1).expand(-1, self.length, -1))
        trace: torch.Tensor = self.output(sequence)
        return trace.squeeze(-1)

    @torch.no_grad()
    def sample(self, n_or_z: int | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Traces (N, L) decoded from `n` draws of the prior, or from the given latent vectors."""
        if isinstance(n_or_z, torch.Tensor):
            z = n_or_z.to(self.mean.weight.device, self.mean.weight.dtype)
        else:
            n = _check_positive("n", n_or_z)
            z = torch.randn(n, self.latent, generator=generator).to(self.mean.weight.device)
        return self.decode(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction (N, L), mean, log-variance), with z drawn by reparameterisation in training."""
        mean, log_var = self.encode(x, return_log_var=True)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if self.training else mean
        return self.decode(z), mean, log_var

    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        target = _as_sequence(x)[..., 0].float()
        reconstruction, mean, log_var = self(x)
        mean, log_var = mean.float(), log_var.float()
        squared_error = ((reconstruction.float() - target) ** 2).mean(dim=1).sum()
        kl = (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(dim=1)).sum()
        return squared_error + self.beta * kl, {"mse": squared_error.detach(), "kl": kl.detach()}


class ToyVAE(CalspikeModel):
    """The tutorial's one-hot demo: 10 -> 20 (tanh) -> 2-d latent -> 20 (tanh) -> 20 (tanh) -> 10.

    Input: one-hot vectors (N, 10) (or labels (N,) in 0..9). Reconstruction loss: the
    cross-entropy of the 10 output logits with the digit, + ``beta`` * KL.
    """

    kind: ClassVar[str] = "ToyVAE"

    def __init__(self, classes: int = 10, hidden: int = 20, latent: int = 2, beta: float = 1e-2) -> None:
        super().__init__()
        self.config = {
            "classes": _check_positive("classes", classes), "hidden": _check_positive("hidden", hidden),
            "latent": _check_positive("latent", latent), "beta": float(beta),
        }
        self.classes, self.beta = classes, float(beta)
        self.encoder = nn.Sequential(nn.Linear(classes, hidden), nn.Tanh())
        self.mean = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, classes)
        )

    def _one_hot(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 1:
            return F.one_hot(x.long(), self.classes).float()
        return x.float()

    def encode(self, x: torch.Tensor, return_log_var: bool = False) -> Any:
        """Latent means (N, latent) of one-hot vectors (N, classes) or labels (N,)."""
        state = self.encoder(self._one_hot(x))
        mean = self.mean(state)
        return (mean, self.log_var(state)) if return_log_var else mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Class logits (N, classes) of latent vectors (N, latent)."""
        return self.decoder(z)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(x, return_log_var=True)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if self.training else mean
        return self.decode(z), mean, log_var

    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        one_hot = self._one_hot(x)
        logits, mean, log_var = self(one_hot)
        digit = one_hot.argmax(dim=1)
        reconstruction = F.cross_entropy(logits.float(), digit, reduction="sum")
        kl = (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(dim=1)).sum()
        correct = (logits.argmax(dim=1) == digit).sum().float()
        return reconstruction + self.beta * kl, {"correct": correct, "kl": kl.detach()}


class _DilatedBlock(nn.Module):
    """x -> x + Conv1x1(ReLU(Conv(C -> C, 3, dilation d))), cropping d frames each side (no padding)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.wide = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.dilation : -self.dilation] + self.mix(F.relu(self.wide(x)))  # type: ignore[no-any-return]


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised Gaussian of `sigma` frames over +-3 sigma ([1.0] for sigma 0)."""
    half = math.ceil(3 * sigma)
    if half == 0:
        return torch.ones(1)
    offsets = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


class SpikeRateModel(CalspikeModel):
    """Normalised calcium traces -> expected spikes per frame, at the model's frame ``rate`` (Hz).

    Fully convolutional without padding: an input (N, L + 2 R) gives (N, L) outputs, R =
    ``radius`` frames of context on each side, so a trace of any length is processed in
    tiles with identical results and memory that grows with frames only
    (`calspike.spikerate` pads the trace's edges with its edge values). Layers:
    Conv(1 -> C, 7) -> ReLU -> blocks x + Conv1x1(ReLU(Conv(C -> C, 3, dilation d))) for d in
    ``dilations`` -> ReLU -> Conv1x1(C -> 1) -> softplus.

    Loss per chunk: mean Poisson negative log-likelihood of the counts per frame plus
    ``correlation_weight`` * (1 - Pearson r) of prediction and counts smoothed by a
    Gaussian of ``smooth`` frames (the SpikeFinder score at 25 Hz, made tolerant of
    small timing differences between recordings; chunks without spikes add no
    correlation term). In training mode,
    ``step`` augments each chunk: gain in [1 / ``gain``, ``gain``], white noise of standard
    deviation up to ``noise`` (normalised units) and an offset.
    """

    kind: ClassVar[str] = "SpikeRateModel"

    def __init__(
        self, rate: float = 25.0, channels: int = 32, dilations: tuple[int, ...] | list[int] = (1, 2, 4, 8, 16, 32),
        correlation_weight: float = 5.0, noise: float = 1.0, gain: float = 1.5, smooth: float = 2.0,
    ) -> None:
        super().__init__()
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1e6:
            raise ValueError(f"rate must be a frame rate in Hz > 0, got {rate!r}")
        dilations = [_check_positive("dilation", d) for d in dilations]
        for name, value in (("correlation_weight", correlation_weight), ("noise", noise), ("smooth", smooth)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain >= 1:
            raise ValueError(f"gain must be a number >= 1, got {gain!r}")
        self.config = {
            "rate": float(rate), "channels": _check_positive("channels", channels), "dilations": dilations,
            "correlation_weight": float(correlation_weight), "noise": float(noise), "gain": float(gain),
            "smooth": float(smooth),
        }
        self.rate = float(rate)
        self.radius = 3 + sum(dilations)
        self.inlet = nn.Conv1d(1, channels, 7)
        self.blocks = nn.Sequential(*(_DilatedBlock(channels, d) for d in dilations))
        self.outlet = nn.Conv1d(channels, 1, 1)
        self.smoothing: torch.Tensor
        self.register_buffer("smoothing", _gaussian_kernel(float(smooth)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expected spikes per frame (N, L) of normalised traces (N, L + 2 * radius)."""
        if x.dim() != 2 or x.shape[1] <= 2 * self.radius:
            raise ValueError(f"expected traces (N, L + {2 * self.radius}) with L >= 1, got {tuple(x.shape)}")
        hidden = self.blocks(F.relu(self.inlet(x.unsqueeze(1))))
        rate: torch.Tensor = F.softplus(self.outlet(F.relu(hidden)))
        return rate.squeeze(1)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        log_gain = math.log(self.config["gain"])
        gain = torch.exp((torch.rand(n, 1, device=x.device) * 2 - 1) * log_gain)
        noise = torch.rand(n, 1, device=x.device) * float(self.config["noise"])
        offset = torch.randn(n, 1, device=x.device) * 0.2
        augmented: torch.Tensor = x * gain + offset + noise * torch.randn_like(x)
        return augmented

    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if y is None:
            raise ValueError("SpikeRateModel needs spike counts y (N, L)")
        inputs = self._augment(x.float()) if self.training else x
        rate = self(inputs).float()
        counts = y.float()
        if rate.shape != counts.shape:
            raise ValueError(f"counts {tuple(counts.shape)} must match the output {tuple(rate.shape)}")
        poisson = (rate - counts * torch.log(rate + 1e-6)).mean(dim=1)
        centred_rate = rate - rate.mean(dim=1, keepdim=True)
        smoothed = counts
        if self.smoothing.numel() > 1:  # correlate with smoothed counts: tolerant of timing shifts
            half = self.smoothing.numel() // 2
            smoothed = F.conv1d(F.pad(counts.unsqueeze(1), (half, half), mode="replicate"),
                                self.smoothing.view(1, 1, -1)).squeeze(1)
        centred_counts = smoothed - smoothed.mean(dim=1, keepdim=True)
        # eps inside the roots: a constant prediction has a finite gradient, not 0/0
        norms = (centred_rate.square().sum(dim=1) + 1e-6).sqrt() * (centred_counts.square().sum(dim=1) + 1e-6).sqrt()
        has_spikes = (counts.sum(dim=1) > 0).float()
        correlation = (centred_rate * centred_counts).sum(dim=1) / norms * has_spikes
        loss = poisson + self.config["correlation_weight"] * (1 - correlation) * has_spikes
        return loss.sum(), {"poisson": poisson.detach().sum(), "correlation": correlation.detach().sum(),
                            "with_spikes": has_spikes.sum()}


def one_hot_digits(count: int = 10_000, classes: int = 10, seed: int = 0) -> torch.Tensor:
    """The toy VAE's training data: `count` random one-hot vectors (count, classes), float32, seeded."""
    generator = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, classes, (count,), generator=generator), classes).float()


MODELS: dict[str, type[CalspikeModel]] = {
    m.kind: m for m in (SpikeClassifier, CalciumVAE, ToyVAE, SpikeRateModel)
}


def build_model(kind: str, config: dict[str, Any]) -> CalspikeModel:
    """A model of class `kind` (a key of MODELS, e.g. "SpikeClassifier") built from its `config`."""
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}: choose from {', '.join(MODELS)}")
    return MODELS[kind](**config)
