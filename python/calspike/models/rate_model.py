"""The spike-rate model: dilated convolutions over whole traces at one internal frame rate.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from calspike.models.base import CalspikeModel, _check_positive


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
    ``correlation_weight`` * (1 - Pearson r) of prediction and counts (the SpikeFinder
    score at 25 Hz; chunks without spikes add no correlation term), the counts optionally
    smoothed by a Gaussian of ``smooth`` frames. No smoothing is the default: on
    datasets left out of training, smoothing by 80 ms (the earlier default) cost 0.16-0.20
    in mean r on fast, high-rate recordings (DS31 jGCaMP8m, DS13 Allen GCaMP6s) and
    changed DS07 and SpikeFinder 5 by less than 0.02 (benchmarks/bench_ground_truth.py). In training mode,
    ``step`` augments each chunk: gain in [1 / ``gain``, ``gain``], white noise of standard
    deviation s up to ``noise`` (normalised units) and an offset, then divides by
    sqrt(1 + s^2), as the normalisation of a noisier recording would.
    """

    kind: ClassVar[str] = "SpikeRateModel"

    def __init__(
        self, rate: float = 25.0, channels: int = 32, dilations: tuple[int, ...] | list[int] = (1, 2, 4, 8, 16, 32),
        correlation_weight: float = 5.0, noise: float = 1.0, gain: float = 1.5, smooth: float = 0.0,
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
        # Inference divides each trace by its robust spread; noise of sd s added to a trace of
        # unit spread makes it about sqrt(1 + s^2), so the noisier chunk is scaled as inference would.
        augmented: torch.Tensor = (x * gain + offset + noise * torch.randn_like(x)) / torch.sqrt(1 + noise**2)
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
