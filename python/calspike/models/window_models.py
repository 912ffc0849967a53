"""The tutorial's models of windows: the LSTM spike classifier and the calcium VAE."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from calspike.models.base import (
    CalspikeModel,
    LSTMEncoder,
    as_sequence,
    check_positive,
    check_setting,
    gaussian_kl,
    reparameterise,
    repeated_input_lstm,
)


class SpikeClassifier(CalspikeModel):
    """LSTM spike classifier: feature windows (N, L, C) -> one spike logit per window (N,).

    LSTM -> final state -> Linear -> logit. Trained with binary cross-entropy on logits
    (`fit`); `predict_proba` applies the sigmoid.

    Parameters
    ----------
    channels : int
        Features per frame, C (``len(kinds)`` of `features`).
    hidden : int
        LSTM units.
    layers : int
        Stacked LSTM layers.
    bidirectional : bool
        Read the windows in both directions.
    dropout : float
        In [0, 1): dropout between LSTM layers and before the head.

    Raises
    ------
    ValueError
        For a size that is not an integer >= 1, or a dropout outside [0, 1).
    """

    kind: ClassVar[str] = "SpikeClassifier"

    def __init__(
        self,
        channels: int = 1,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = {
            "channels": check_setting("channels", channels, "input_channels"),
            "hidden": check_setting("hidden", hidden),
            "layers": check_setting("layers", layers),
            "bidirectional": bool(bidirectional),
            "dropout": check_setting("dropout", dropout),
        }
        self.encoder = LSTMEncoder(channels, hidden, layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.out_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute one spike logit per window.

        Parameters
        ----------
        x : torch.Tensor, shape (N, L, C) or (N, L)
            Feature windows.

        Returns
        -------
        torch.Tensor, shape (N,)
            Logits: > 0 predicts a spike.
        """
        logit: torch.Tensor = self.head(self.dropout(self.encoder(as_sequence(x))))
        return logit.squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the spike probability of each window, without gradients.

        Parameters
        ----------
        x : torch.Tensor, shape (N, L, C) or (N, L)
            Feature windows.

        Returns
        -------
        torch.Tensor, shape (N,), float32
            The sigmoid of the logits.
        """
        return torch.sigmoid(self(x).float())

    def step(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the training loss of a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (N, L, C) or (N, L)
            Feature windows.
        y : torch.Tensor, shape (N,)
            Labels: 1 spike, 0 no spike.

        Returns
        -------
        loss : torch.Tensor
            Binary cross-entropy on the logits, summed over the batch.
        stats : dict of str to torch.Tensor
            ``correct``: the number of windows classified correctly.

        Raises
        ------
        ValueError
            When `y` is None.
        """
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

    Parameters
    ----------
    length : int
        Frames per window, L.
    channels : int
        Features per frame, C; channel 0 is reconstructed.
    hidden : int
        LSTM units of the encoder and the decoder.
    latent : int
        Latent dimensions.
    layers : int
        Stacked LSTM layers of the encoder.
    bidirectional : bool
        Encode the windows in both directions.
    dropout : float
        In [0, 1): dropout between the encoder's LSTM layers.
    beta : float
        Weight (>= 0) of the KL term.
    conditional : bool
        The window's spike label (1 spike, 0 no spike) enters the encoder as one more
        input channel and the decoder concatenated to the latent vector at every step, as
        the tutorial's text describes: the decoder then draws calcium for a chosen class
        (``sample(n, did_spike=...)``), and the latent space is left to carry what the
        label does not. Every call (`encode`, `decode`, `forward`, `step`) then takes the
        labels.

    Raises
    ------
    ValueError
        For a size that is not an integer >= 1, a dropout outside [0, 1), a negative
        `beta` or a `conditional` that is not a bool.
    """

    kind: ClassVar[str] = "CalciumVAE"

    def __init__(
        self,
        length: int,
        channels: int = 1,
        hidden: int = 64,
        latent: int = 256,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        beta: float = 1e-4,
        conditional: bool = False,
    ) -> None:
        super().__init__()
        check_setting("beta", beta)
        if not isinstance(conditional, bool):
            raise ValueError(f"conditional must be true or false, got {conditional!r}")
        self.config = {
            "length": check_setting("length", length),
            "channels": check_setting("channels", channels, "input_channels"),
            "hidden": check_setting("hidden", hidden),
            "latent": check_setting("latent", latent),
            "layers": check_setting("layers", layers),
            "bidirectional": bool(bidirectional),
            "dropout": check_setting("dropout", dropout),
            "beta": float(beta),
            "conditional": conditional,
        }
        self.length, self.latent, self.beta, self.conditional = (
            length,
            latent,
            float(beta),
            conditional,
        )
        extra = 1 if conditional else 0
        self.encoder = LSTMEncoder(channels + extra, hidden, layers, bidirectional, dropout)
        self.mean = nn.Linear(self.encoder.out_features, latent)
        self.log_var = nn.Linear(self.encoder.out_features, latent)
        self.decoder = nn.LSTM(latent + extra, hidden, batch_first=True)
        self.output = nn.Linear(hidden, 1)

    def _label(self, did_spike: Any, n: int) -> torch.Tensor | None:
        """Labels as a float column (n, 1) on the model's device; None for an unconditional VAE."""
        if not self.conditional:
            if did_spike is not None:
                raise ValueError(
                    "did_spike is only for a conditional CalciumVAE (conditional=True)"
                )
            return None
        if did_spike is None:
            raise ValueError(
                "a conditional CalciumVAE needs did_spike (the spike label of each window)"
            )
        label = torch.as_tensor(did_spike, device=self.mean.weight.device).float().reshape(-1)
        if label.numel() == 1:
            label = label.expand(n)
        if label.numel() != n:
            raise ValueError(f"did_spike must hold one label per window ({n}), got {label.numel()}")
        return label.reshape(n, 1)

    def encode(self, x: torch.Tensor, return_log_var: bool = False, did_spike: Any = None) -> Any:
        """Encode windows into latent means (and log-variances).

        Parameters
        ----------
        x : torch.Tensor, shape (N, L) or (N, L, C)
            Windows.
        return_log_var : bool
            Also return the log-variances.
        did_spike : array_like, shape (N,), or bool, optional
            The spike labels (or one for all): for a conditional VAE, and only for one.

        Returns
        -------
        torch.Tensor, shape (N, latent), or a tuple of two
            The latent means; with `return_log_var`, (means, log-variances).

        Raises
        ------
        ValueError
            For labels missing, given to an unconditional VAE, or not one per window.
        """
        sequence = as_sequence(x)
        label = self._label(did_spike, sequence.shape[0])
        if label is not None:
            sequence = torch.cat(
                [sequence, label.to(sequence.dtype)[:, None, :].expand(-1, sequence.shape[1], 1)],
                dim=2,
            )
        state = self.encoder(sequence)
        mean = self.mean(state)
        return (mean, self.log_var(state)) if return_log_var else mean

    def decode(self, z: torch.Tensor, did_spike: Any = None) -> torch.Tensor:
        """Decode latent vectors into traces.

        Parameters
        ----------
        z : torch.Tensor, shape (N, latent)
            Latent vectors.
        did_spike : array_like, shape (N,), or bool, optional
            The spike labels (or one for all): for a conditional VAE, and only for one.

        Returns
        -------
        torch.Tensor, shape (N, L)
            Generated traces, in the units of the input's channel 0.

        Raises
        ------
        ValueError
            For latent vectors of the wrong shape, or labels as for `encode`.
        """
        if z.dim() != 2 or z.shape[1] != self.latent:
            raise ValueError(
                f"latent vectors must have shape (N, {self.latent}), got {tuple(z.shape)}"
            )
        label = self._label(did_spike, z.shape[0])
        steps = z if label is None else torch.cat([z, label.to(z.dtype)], dim=1)
        trace: torch.Tensor = self.output(repeated_input_lstm(self.decoder, steps, self.length))
        return trace.squeeze(-1)

    @torch.no_grad()
    def sample(
        self,
        n_or_z: int | torch.Tensor,
        generator: torch.Generator | None = None,
        did_spike: Any = None,
    ) -> torch.Tensor:
        """Generate traces from draws of the prior N(0, I), without gradients.

        Parameters
        ----------
        n_or_z : int or torch.Tensor, shape (N, latent)
            How many traces to draw, or the latent vectors to decode.
        generator : torch.Generator, optional
            Random source of the draws.
        did_spike : bool or array_like, shape (N,), optional
            The class to draw (True/False, or one label per trace): for a conditional VAE,
            and only for one.

        Returns
        -------
        torch.Tensor, shape (N, L)
            Generated traces.

        Raises
        ------
        ValueError
            For an `n` that is not an integer >= 1, or labels as for `encode`.
        """
        if isinstance(n_or_z, torch.Tensor):
            z = n_or_z.to(self.mean.weight.device, self.mean.weight.dtype)
        else:
            n = check_positive("n", n_or_z)
            z = torch.randn(n, self.latent, generator=generator).to(self.mean.weight.device)
        return self.decode(z, did_spike)

    def forward(
        self, x: torch.Tensor, did_spike: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct windows, with z drawn by reparameterisation in training (the mean in eval).

        Parameters
        ----------
        x : torch.Tensor, shape (N, L) or (N, L, C)
            Windows.
        did_spike : array_like, shape (N,), optional
            The spike labels, for a conditional VAE only.

        Returns
        -------
        reconstruction : torch.Tensor, shape (N, L)
            The reconstructed channel 0.
        mean, log_var : torch.Tensor, shape (N, latent)
            The latent means and log-variances.
        """
        mean, log_var = self.encode(x, return_log_var=True, did_spike=did_spike)
        z = reparameterise(mean, log_var, self.training)
        return self.decode(z, did_spike), mean, log_var

    def step(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the training loss of a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (N, L) or (N, L, C)
            Windows.
        y : torch.Tensor, shape (N,), optional
            The spike labels: required by a conditional VAE, ignored otherwise.

        Returns
        -------
        loss : torch.Tensor
            Summed over the batch: mean squared error of channel 0 + ``beta`` * KL.
        stats : dict of str to torch.Tensor
            ``mse`` and ``kl``, summed over the batch.

        Raises
        ------
        ValueError
            When a conditional VAE gets no labels.
        """
        if self.conditional and y is None:
            raise ValueError("a conditional CalciumVAE needs the spike labels y")
        target = as_sequence(x)[..., 0].float()
        reconstruction, mean, log_var = self(x, y if self.conditional else None)
        mean, log_var = mean.float(), log_var.float()
        squared_error = ((reconstruction.float() - target) ** 2).mean(dim=1).sum()
        kl = gaussian_kl(mean, log_var)
        return squared_error + self.beta * kl, {"mse": squared_error.detach(), "kl": kl.detach()}
