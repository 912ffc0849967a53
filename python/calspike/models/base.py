"""What every calspike model shares, written once.

The base class (kind, config, step), argument checks (through the settings' schema), the
LSTM encoder and the variational
pieces (reparameterisation, KL term).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, cast

import torch
from torch import nn

from calspike import config


class CalspikeModel(nn.Module, metaclass=abc.ABCMeta):
    """What every calspike model has: a `kind`, the `config` that rebuilds it, and `step`."""

    kind: ClassVar[str]
    config: dict[str, Any]

    @abc.abstractmethod
    def step(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss summed over the batch, summed statistics) of one batch.

        Of windows `x` (N, ...) and labels `y` (N,), or None for models without labels.
        """


def check_positive(name: str, value: int) -> int:
    """`value` if it is an integer >= 1 (not a bool); ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {config.shown(value)}")
    return value


def check_setting(name: str, value: Any, setting: str | None = None) -> Any:
    """`value` checked by the settings' schema (`calspike.config`) as the setting `setting`.

    `setting` defaults to `name`; the ValueError names `name`, the model's own argument.
    """
    declared = config.SETTINGS[setting or name]
    if declared.name != name:
        declared = dataclasses.replace(declared, name=name)
    return declared.check(value)


def as_sequence(x: torch.Tensor) -> torch.Tensor:
    """Windows `x` (N, L) or (N, L, C) as (N, L, C); ValueError for any other shape."""
    if x.dim() == 2:
        return x.unsqueeze(-1)
    if x.dim() != 3:
        raise ValueError(f"expected windows of shape (N, L) or (N, L, C), got {tuple(x.shape)}")
    return x


class LSTMEncoder(nn.Module):
    """(N, L, C) -> (N, hidden * directions): the last layer's final hidden state(s).

    Parameters
    ----------
    channels : int
        Input channels C per frame.
    hidden : int
        Hidden units per direction.
    layers : int
        Stacked LSTM layers.
    bidirectional : bool
        Whether the LSTM also reads each window backwards.
    dropout : float
        Dropout between layers (none with one layer).
    """

    def __init__(
        self, channels: int, hidden: int, layers: int, bidirectional: bool, dropout: float
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            channels,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.out_features = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Final hidden state(s) (N, out_features) of windows `x` (N, L, C)."""
        h_n: torch.Tensor
        _, (h_n, _) = self.lstm(x)
        directions = 2 if self.lstm.bidirectional else 1
        return h_n[-directions:].transpose(0, 1).reshape(x.shape[0], -1)


def repeated_input_lstm(lstm: nn.LSTM, steps: torch.Tensor, length: int) -> torch.Tensor:
    """The outputs of a one-layer, one-way `lstm` fed the same input at every step.

    Equal (to rounding) to ``lstm(steps.unsqueeze(1).expand(-1, length, -1))[0]``.

    Parameters
    ----------
    lstm : torch.nn.LSTM
        Any LSTM; the shortcut applies to one layer, one direction, with biases and without
        projection, on the CPU (others run as ``lstm`` itself).
    steps : torch.Tensor, shape (N, input_size)
        The input of every step.
    length : int
        Steps to run.

    Returns
    -------
    torch.Tensor, shape (N, length, hidden)
        The hidden state after each step.
    """
    plain = lstm.num_layers == 1 and not lstm.bidirectional and lstm.bias and not lstm.proj_size
    if steps.is_cuda or not plain or not lstm.batch_first:  # cuDNN: the sequence in a few kernels
        sequence: torch.Tensor = lstm(
            steps.unsqueeze(1 if lstm.batch_first else 0).expand(
                *((-1, length, -1) if lstm.batch_first else (length, -1, -1))
            )
        )[0]
        return sequence if lstm.batch_first else sequence.transpose(0, 1)
    # On the CPU, projecting the input (latent 256 -> 4 x 64 gates) at each of the steps was
    # two thirds of a calcium VAE's training step; the input is the same, so it is done once.
    weight_ih, weight_hh, bias_ih, bias_hh = (
        cast(torch.Tensor, getattr(lstm, f"{name}_l0"))
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    from_input = torch.addmm(bias_ih + bias_hh, steps, weight_ih.t())
    h = steps.new_zeros(steps.shape[0], lstm.hidden_size)
    c = h
    outputs = []
    for _ in range(length):
        gates = torch.addmm(from_input, h, weight_hh.t())
        in_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, dim=1)
        c = torch.sigmoid(forget_gate) * c + torch.sigmoid(in_gate) * torch.tanh(cell_gate)
        h = torch.sigmoid(out_gate) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def reparameterise(mean: torch.Tensor, log_var: torch.Tensor, training: bool) -> torch.Tensor:
    """A latent draw z = mean + sigma * noise while training; the mean otherwise."""
    return mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if training else mean


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)), summed over latent dimensions and windows."""
    return (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(dim=1)).sum()
