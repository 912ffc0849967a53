"""What every calspike model shares, written once.

The base class (kind, config, step), argument checks, the LSTM encoder and the variational
pieces (reparameterisation, KL term).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
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


def reparameterise(mean: torch.Tensor, log_var: torch.Tensor, training: bool) -> torch.Tensor:
    """A latent draw z = mean + sigma * noise while training; the mean otherwise."""
    return mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if training else mean


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)), summed over latent dimensions and windows."""
    return (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(dim=1)).sum()
