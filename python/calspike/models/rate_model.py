"""The spike-rate model: dilated convolutions over whole traces at one internal frame rate."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from calspike.config import shown
from calspike.models.base import CalspikeModel, check_setting


class _DilatedBlock(nn.Module):
    """x -> x + Conv1x1(ReLU(Conv(C -> C, 3, dilation d))), with no padding.

    The output is cropped by d frames at each side.
    """

    def __init__(self, channels: int, dilation: int, groups: int = 1) -> None:
        super().__init__()
        self.dilation = dilation
        self.wide = nn.Conv1d(channels, channels, 3, dilation=dilation, groups=groups)
        self.mix = nn.Conv1d(channels, channels, 1, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in place on the convolutions' fresh outputs (their backward needs neither): saves two
        # allocations per block (ReLU and add took about 13 % of CPU inference; ~2 % faster)
        mixed: torch.Tensor = self.mix(F.relu(self.wide(x), inplace=True))
        return mixed.add_(x[:, :, self.dilation : -self.dilation])


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised Gaussian of `sigma` frames over +-3 sigma ([1.0] for sigma 0)."""
    half = math.ceil(3 * sigma)
    if half == 0:
        return torch.ones(1)
    offsets = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


class SpikeRateModel(CalspikeModel):
    """Spike-rate model: normalised calcium traces -> expected spikes per frame at ``rate`` Hz.

    The input is sampled ``subframes`` times finer than the output (``input_rate`` =
    ``rate`` x ``subframes``): each output frame sees its ``subframes`` input frames as
    channels, so where in the frame a fast indicator rises still counts. Fully
    convolutional without padding: an input (N, subframes x (L + 2 R)) gives (N, L)
    outputs, R = ``radius`` output frames of context on each side, so a trace of any length
    is processed in tiles with identical results and memory that grows with frames only
    (`infer_spike_rates` pads the trace's edges with its edge values). Layers:
    Conv(subframes -> C, 7) -> ReLU -> blocks x + Conv1x1(ReLU(Conv(C -> C, 3, dilation d)))
    for d in ``dilations`` -> ReLU -> Conv1x1(C -> 1) -> softplus.

    Loss per chunk: mean Poisson negative log-likelihood of the counts per frame plus
    ``correlation_weight`` * (1 - Pearson r) of prediction and counts (the SpikeFinder
    score at 25 Hz; chunks without spikes add no correlation term), the counts optionally
    smoothed by a Gaussian of ``smooth`` frames. In training mode, `step` augments each
    chunk: gain in [1 / ``gain``, ``gain``], white noise of standard deviation s up to
    ``noise`` (normalised units) and an offset, then divides by sqrt(1 + s^2), as the
    normalisation of a noisier recording would.

    With ``dff_scale``, each input row starts with one more value: ln(spread / 0.05),
    the trace's spread (the normalisation's divisor) in dF/F
    (`calspike.spikes.rate.dff_scale_values`). Normalised traces hide how large a spike is
    in dF/F, and with it how many spikes a transient holds; the spread gives it back, so
    the counts can be calibrated. It shifts the first layer's and the last layer's
    activations (learned, per channel); the augmentation moves it as gain and noise move
    the spread, so the dF/F a value stands for is kept.

    Parameters
    ----------
    rate : float
        Output frame rate in Hz.
    channels : int
        Convolution channels C of each member.
    dilations : sequence of int
        Dilations of the residual blocks, in order.
    correlation_weight : float
        Weight (>= 0) of the correlation term of the loss.
    noise : float
        Largest standard deviation (>= 0) of the noise added in training, normalised units.
    gain : float
        Largest gain factor (>= 1) of the augmentation.
    smooth : float
        Standard deviation in frames (>= 0) of the Gaussian that smooths the counts for the
        correlation term. No smoothing is the default: on datasets left out of training,
        smoothing by 80 ms (the earlier default) cost 0.16-0.20 in mean r on fast,
        high-rate recordings (DS31 jGCaMP8m, DS13 Allen GCaMP6s) and changed DS07 and
        SpikeFinder 5 by less than 0.02 (benchmarks/bench_ground_truth.py).
    subframes : int
        Input frames per output frame.
    dff_scale : bool
        Whether the input rows start with the spread value (see above).
    members : int
        With k > 1 the model is an ensemble of k such networks, initialised apart and each
        trained on its own loss (grouped convolutions: k times the cost); its prediction is
        their mean.

    Attributes
    ----------
    input_rate : float
        ``rate * subframes``, the input's frame rate in Hz.
    radius : int
        R, the output frames of context the model needs on each side.

    Raises
    ------
    ValueError
        For a rate that is not a frame rate in Hz, a size or dilation that is not an
        integer >= 1, or a weight, noise, smoothing or gain out of range.
    """

    kind: ClassVar[str] = "SpikeRateModel"

    def __init__(
        self,
        rate: float = 25.0,
        channels: int = 32,
        dilations: tuple[int, ...] | list[int] = (1, 2, 4, 8, 16, 32),
        correlation_weight: float = 5.0,
        noise: float = 1.0,
        gain: float = 1.5,
        smooth: float = 0.0,
        subframes: int = 1,
        members: int = 1,
        dff_scale: bool = False,
    ) -> None:
        super().__init__()
        rate = check_setting("rate", rate, "model_rate")
        if isinstance(dilations, str) or not 1 <= len(dilations) <= 64:
            raise ValueError(f"dilations must be 1 to 64 integers, got {shown(dilations)}")
        dilations = [check_setting("dilation", d) for d in dilations]
        for name, value in (
            ("correlation_weight", correlation_weight),
            ("noise", noise),
            ("smooth", smooth),
            ("gain", gain),
        ):
            check_setting(name, value)
        self.config = {
            "rate": float(rate),
            "channels": check_setting("channels", channels),
            "dilations": dilations,
            "correlation_weight": float(correlation_weight),
            "noise": float(noise),
            "gain": float(gain),
            "smooth": float(smooth),
            "subframes": check_setting("subframes", subframes),
            "members": check_setting("members", members),
        }
        if not isinstance(dff_scale, bool):
            raise ValueError(f"dff_scale must be True or False, got {shown(dff_scale)}")
        if dff_scale:  # old checkpoints' configs lack the key: they load as before
            self.config["dff_scale"] = True
        self.dff_scale = dff_scale
        self.leading = int(dff_scale)  # values before the trace in each input row
        self.rate = float(rate)
        self.subframes = int(subframes)
        self.input_rate = self.rate * self.subframes
        self.radius = 3 + sum(dilations)
        self.members = int(members)
        width = channels * self.members
        self.inlet = nn.Conv1d(self.subframes, width, 7)
        self.blocks = nn.Sequential(*(_DilatedBlock(width, d, self.members) for d in dilations))
        self.outlet = nn.Conv1d(width, self.members, 1, groups=self.members)
        self.scale_in: nn.Linear | None = nn.Linear(1, width) if dff_scale else None
        self.scale_out: nn.Linear | None = nn.Linear(1, self.members) if dff_scale else None
        self.smoothing: torch.Tensor
        self.register_buffer("smoothing", _gaussian_kernel(float(smooth)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the expected spikes per frame: the mean over the members.

        Parameters
        ----------
        x : torch.Tensor, shape (N, leading + subframes * (L + 2 * radius))
            Normalised traces at ``input_rate``, with `radius` frames of context each side,
            after the ``leading`` (1 with ``dff_scale``, else 0) spread value.

        Returns
        -------
        torch.Tensor, shape (N, L)
            Expected spikes per output frame (>= 0).

        Raises
        ------
        ValueError
            For an input of another shape.
        """
        return self.member_rates(x).mean(dim=1)

    def member_rates(self, x: torch.Tensor) -> torch.Tensor:
        """Compute each member's expected spikes per frame.

        Parameters
        ----------
        x : torch.Tensor, shape (N, leading + subframes * (L + 2 * radius))
            As for `forward`.

        Returns
        -------
        torch.Tensor, shape (N, members, L)
            Expected spikes per output frame of each member.

        Raises
        ------
        ValueError
            For an input of another shape.
        """
        s, lead = self.subframes, self.leading
        width = x.shape[1] - lead if x.dim() == 2 else 0
        if width <= 2 * self.radius * s or width % s:
            raise ValueError(
                f"expected traces (N, {f'{lead} + ' if lead else ''}{s} x (L + "
                f"{2 * self.radius})) with L >= 1, got {tuple(x.shape)}"
            )
        # (N, s * frames) -> (N, s, frames): the s input frames of each output frame as channels
        framed = x[:, lead:].reshape(x.shape[0], -1, s).transpose(1, 2)
        first = self.inlet(framed)
        if self.scale_in is not None and self.scale_out is not None:
            scale = x[:, :1]
            first = first + self.scale_in(scale).unsqueeze(2)
        hidden = self.blocks(F.relu(first, inplace=True))
        last = self.outlet(F.relu(hidden, inplace=True))
        if self.scale_in is not None and self.scale_out is not None:
            last = last + self.scale_out(scale).unsqueeze(2)
        rates: torch.Tensor = F.softplus(last)
        return rates

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        lead = self.leading
        x, scale = x[:, lead:], x[:, :lead]
        n = x.shape[0]
        log_gain = math.log(self.config["gain"])
        gain = torch.exp((torch.rand(n, 1, device=x.device) * 2 - 1) * log_gain)
        noise = torch.rand(n, 1, device=x.device) * float(self.config["noise"])
        offset = torch.randn(n, 1, device=x.device) * 0.2
        # Inference divides each trace by its robust spread; noise of sd s added to a trace of
        # unit spread makes it about sqrt(1 + s^2), so the noisier chunk is scaled as inference
        # would.
        augmented: torch.Tensor = (x * gain + offset + noise * torch.randn_like(x)) / torch.sqrt(
            1 + noise**2
        )
        if lead:  # the spread that keeps each value's dF/F: x' * spread' = x * spread
            scale = scale + 0.5 * torch.log1p(noise**2) - torch.log(gain)
            augmented = torch.cat([scale, augmented], dim=1)
        return augmented

    def step(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the training loss of a batch of chunks (augmented in training mode).

        Parameters
        ----------
        x : torch.Tensor, shape (N, leading + subframes * (L + 2 * radius))
            Normalised chunks, as for `forward`.
        y : torch.Tensor, shape (N, L)
            Spike counts per output frame.

        Returns
        -------
        loss : torch.Tensor
            Poisson negative log-likelihood + ``correlation_weight`` * (1 - r), each
            member's mean, summed over the batch.
        stats : dict of str to torch.Tensor
            ``poisson``, ``correlation`` and ``with_spikes`` (chunks with spikes), summed
            over the batch.

        Raises
        ------
        ValueError
            When `y` is None or does not match the output's shape.
        """
        if y is None:
            raise ValueError("SpikeRateModel needs spike counts y (N, L)")
        inputs = self._augment(x.float()) if self.training else x
        rate = self.member_rates(
            inputs
        ).float()  # (N, members, L): each member answers for its own loss
        counts = y.float().unsqueeze(1)
        if rate.shape[::2] != counts.shape[::2]:
            raise ValueError(
                f"counts {tuple(y.shape)} must match the output {(rate.shape[0], rate.shape[2])}"
            )
        poisson = (rate - counts * torch.log(rate + 1e-6)).mean(dim=2)
        centred_rate = rate - rate.mean(dim=2, keepdim=True)
        smoothed = counts
        if self.smoothing.numel() > 1:  # correlate with smoothed counts: tolerant of timing shifts
            half = self.smoothing.numel() // 2
            smoothed = F.conv1d(
                F.pad(counts, (half, half), mode="replicate"), self.smoothing.view(1, 1, -1)
            )
        centred_counts = smoothed - smoothed.mean(dim=2, keepdim=True)
        # eps inside the roots: a constant prediction has a finite gradient, not 0/0
        norms = (centred_rate.square().sum(dim=2) + 1e-6).sqrt() * (
            centred_counts.square().sum(dim=2) + 1e-6
        ).sqrt()
        has_spikes = (counts.sum(dim=2) > 0).float()
        correlation = (centred_rate * centred_counts).sum(dim=2) / norms * has_spikes
        loss = (poisson + self.config["correlation_weight"] * (1 - correlation) * has_spikes).mean(
            dim=1
        )
        return loss.sum(), {
            "poisson": poisson.detach().mean(dim=1).sum(),
            "correlation": correlation.detach().mean(dim=1).sum(),
            "with_spikes": has_spikes.sum(),
        }
