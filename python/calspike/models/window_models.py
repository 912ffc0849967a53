"""The tutorial's models of windows: the LSTM spike classifier, the calcium VAE and the toy VAE.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from calspike.models.base import (
    CalspikeModel,
    _as_sequence,
    _check_fraction,
    _check_positive,
    _LSTMEncoder,
    gaussian_kl,
    reparameterise,
)

TOY_LOSSES = ("squared_error", "cross_entropy")


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
    """A variational autoencoder of calcium windows, optionally conditioned on the spike label.

    Encoder: LSTM over (N, L, C) -> final state -> mean and log-variance heads (``latent``
    dimensions). Decoder: the latent vector repeated over the L steps -> LSTM (``hidden``,
    full sequence) -> Linear -> (N, L), a reconstruction of channel 0 of the input. Loss
    per window: squared error summed over the L frames / L (the mean squared error)
    + ``beta`` * KL(q(z|x) || N(0, I)).

    With ``conditional=True`` the window's spike label (1 spike, 0 no spike) enters the
    encoder as one more input channel and the decoder concatenated to the latent vector
    at every step, as the tutorial's text describes: the decoder then draws calcium for a
    chosen class (`sample(n, did_spike=...)`), and the latent space is left to carry what
    the label does not. Every call (`encode`, `decode`, `forward`, `step`) then takes the labels.
    """

    kind: ClassVar[str] = "CalciumVAE"

    def __init__(
        self, length: int, channels: int = 1, hidden: int = 64, latent: int = 256, layers: int = 1,
        bidirectional: bool = False, dropout: float = 0.0, beta: float = 1e-4, conditional: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ValueError(f"beta must be a number >= 0, got {beta!r}")
        if not isinstance(conditional, bool):
            raise ValueError(f"conditional must be true or false, got {conditional!r}")
        self.config = {
            "length": _check_positive("length", length), "channels": _check_positive("channels", channels),
            "hidden": _check_positive("hidden", hidden), "latent": _check_positive("latent", latent),
            "layers": _check_positive("layers", layers), "bidirectional": bool(bidirectional),
            "dropout": _check_fraction("dropout", dropout), "beta": float(beta), "conditional": conditional,
        }
        self.length, self.latent, self.beta, self.conditional = length, latent, float(beta), conditional
        extra = 1 if conditional else 0
        self.encoder = _LSTMEncoder(channels + extra, hidden, layers, bidirectional, dropout)
        self.mean = nn.Linear(self.encoder.out_features, latent)
        self.log_var = nn.Linear(self.encoder.out_features, latent)
        self.decoder = nn.LSTM(latent + extra, hidden, batch_first=True)
        self.output = nn.Linear(hidden, 1)

    def _label(self, did_spike: Any, n: int) -> torch.Tensor | None:
        """The labels as a float column (n, 1) on the model's device; None for an unconditional VAE."""
        if not self.conditional:
            if did_spike is not None:
                raise ValueError("did_spike is only for a conditional CalciumVAE (conditional=True)")
            return None
        if did_spike is None:
            raise ValueError("a conditional CalciumVAE needs did_spike (the spike label of each window)")
        label = torch.as_tensor(did_spike, device=self.mean.weight.device).float().reshape(-1)
        if label.numel() == 1:
            label = label.expand(n)
        if label.numel() != n:
            raise ValueError(f"did_spike must hold one label per window ({n}), got {label.numel()}")
        return label.reshape(n, 1)

    def encode(self, x: torch.Tensor, return_log_var: bool = False, did_spike: Any = None) -> Any:
        """Latent means (N, latent) of windows (N, L) or (N, L, C); with their log-variances on request.

        did_spike : (N,) labels (or one for all), for a conditional VAE only.
        """
        sequence = _as_sequence(x)
        label = self._label(did_spike, sequence.shape[0])
        if label is not None:
            sequence = torch.cat([sequence, label.to(sequence.dtype)[:, None, :].expand(-1, sequence.shape[1], 1)],
                                 dim=2)
        state = self.encoder(sequence)
        mean = self.mean(state)
        return (mean, self.log_var(state)) if return_log_var else mean

    def decode(self, z: torch.Tensor, did_spike: Any = None) -> torch.Tensor:
        """Traces (N, L) generated from latent vectors (N, latent) (and labels, if conditional)."""
        if z.dim() != 2 or z.shape[1] != self.latent:
            raise ValueError(f"latent vectors must have shape (N, {self.latent}), got {tuple(z.shape)}")
        label = self._label(did_spike, z.shape[0])
        steps = z if label is None else torch.cat([z, label.to(z.dtype)], dim=1)
        sequence, _ = self.decoder(steps.unsqueeze(1).expand(-1, self.length, -1))
        trace: torch.Tensor = self.output(sequence)
        return trace.squeeze(-1)

    @torch.no_grad()
    def sample(self, n_or_z: int | torch.Tensor, generator: torch.Generator | None = None,
               did_spike: Any = None) -> torch.Tensor:
        """Traces (N, L) decoded from `n` draws of the prior, or from the given latent vectors.

        did_spike : the class to draw (True/False, or one label per trace), conditional VAE only.
        """
        if isinstance(n_or_z, torch.Tensor):
            z = n_or_z.to(self.mean.weight.device, self.mean.weight.dtype)
        else:
            n = _check_positive("n", n_or_z)
            z = torch.randn(n, self.latent, generator=generator).to(self.mean.weight.device)
        return self.decode(z, did_spike)

    def forward(self, x: torch.Tensor, did_spike: Any = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction (N, L), mean, log-variance), with z drawn by reparameterisation in training."""
        mean, log_var = self.encode(x, return_log_var=True, did_spike=did_spike)
        z = reparameterise(mean, log_var, self.training)
        return self.decode(z, did_spike), mean, log_var

    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.conditional and y is None:
            raise ValueError("a conditional CalciumVAE needs the spike labels y")
        target = _as_sequence(x)[..., 0].float()
        reconstruction, mean, log_var = self(x, y if self.conditional else None)
        mean, log_var = mean.float(), log_var.float()
        squared_error = ((reconstruction.float() - target) ** 2).mean(dim=1).sum()
        kl = gaussian_kl(mean, log_var)
        return squared_error + self.beta * kl, {"mse": squared_error.detach(), "kl": kl.detach()}


class ToyVAE(CalspikeModel):
    """The tutorial's one-hot demo: 10 -> 20 (tanh) -> 2-d latent -> 20 (tanh) -> 20 (tanh) -> 10.

    Input: one-hot vectors (N, 10) (or labels (N,) in 0..9). Loss per digit: the
    reconstruction error + ``beta`` * KL, the error being the tutorial's squared error
    (mean over the 10 outputs; ``loss="squared_error"``) or the cross-entropy of the 10
    outputs as logits (``loss="cross_entropy"``, which weighs the KL term far less).
    A digit counts as reconstructed when the largest output is its own.
    """

    kind: ClassVar[str] = "ToyVAE"

    def __init__(self, classes: int = 10, hidden: int = 20, latent: int = 2, beta: float = 1e-2,
                 loss: str = "squared_error") -> None:
        super().__init__()
        if loss not in TOY_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(TOY_LOSSES)}, got {loss!r}")
        self.config = {
            "classes": _check_positive("classes", classes), "hidden": _check_positive("hidden", hidden),
            "latent": _check_positive("latent", latent), "beta": float(beta), "loss": loss,
        }
        self.classes, self.beta, self.loss = classes, float(beta), loss
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
        """Outputs (N, classes) of latent vectors (N, latent): the reconstructed one-hot vectors (logits
        with the cross-entropy loss)."""
        return self.decoder(z)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(x, return_log_var=True)
        z = reparameterise(mean, log_var, self.training)
        return self.decode(z), mean, log_var

    def step(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        one_hot = self._one_hot(x)
        logits, mean, log_var = self(one_hot)
        digit = one_hot.argmax(dim=1)
        if self.loss == "squared_error":
            reconstruction = ((logits.float() - one_hot) ** 2).mean(dim=1).sum()
        else:
            reconstruction = F.cross_entropy(logits.float(), digit, reduction="sum")
        kl = gaussian_kl(mean, log_var)
        correct = (logits.argmax(dim=1) == digit).sum().float()
        return reconstruction + self.beta * kl, {"correct": correct, "kl": kl.detach()}


def one_hot_digits(count: int = 10_000, classes: int = 10, seed: int = 0) -> torch.Tensor:
    """The toy VAE's training data: `count` random one-hot vectors (count, classes), float32, seeded."""
    generator = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, classes, (count,), generator=generator), classes).float()
