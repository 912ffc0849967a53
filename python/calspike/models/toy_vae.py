"""The tutorial's toy VAE of one-hot digits, and its training data."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from calspike.models.base import CalspikeModel, check_setting, gaussian_kl, reparameterise

TOY_LOSSES = ("squared_error", "cross_entropy")


class ToyVAE(CalspikeModel):
    """The tutorial's one-hot VAE: 10 -> 20 (tanh) -> 2-d latent -> 20 (tanh) -> 20 (tanh) -> 10.

    Input: one-hot vectors (N, 10) (or labels (N,) in 0..9). Loss per digit: the
    reconstruction error + ``beta`` * KL. A digit counts as reconstructed when the largest
    output is its own.

    Parameters
    ----------
    classes : int
        Digits, the width of the one-hot vectors.
    hidden : int
        Units of the hidden layers.
    latent : int
        Latent dimensions.
    beta : float
        Weight of the KL term.
    loss : {"squared_error", "cross_entropy"}
        The tutorial's squared error (mean over the outputs) or the cross-entropy of the
        outputs as logits (which weighs the KL term far less).

    Raises
    ------
    ValueError
        For a size that is not an integer >= 1 or an unknown `loss`.
    """

    kind: ClassVar[str] = "ToyVAE"

    def __init__(
        self,
        classes: int = 10,
        hidden: int = 20,
        latent: int = 2,
        beta: float = 1e-2,
        loss: str = "squared_error",
    ) -> None:
        super().__init__()
        if loss not in TOY_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(TOY_LOSSES)}, got {loss!r}")
        self.config = {
            "classes": check_setting("classes", classes),
            "hidden": check_setting("hidden", hidden),
            "latent": check_setting("latent", latent),
            "beta": check_setting("beta", beta, "toy_beta"),
            "loss": loss,
        }
        self.classes, self.beta, self.loss = classes, float(beta), loss
        self.encoder = nn.Sequential(nn.Linear(classes, hidden), nn.Tanh())
        self.mean = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, classes),
        )

    def _one_hot(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 1:
            return F.one_hot(x.long(), self.classes).float()
        return x.float()

    def encode(self, x: torch.Tensor, return_log_var: bool = False) -> Any:
        """Encode digits into latent means (and log-variances).

        Parameters
        ----------
        x : torch.Tensor, shape (N, classes) or (N,)
            One-hot vectors, or digit labels in 0..classes-1.
        return_log_var : bool
            Also return the log-variances.

        Returns
        -------
        torch.Tensor, shape (N, latent), or a tuple of two
            The latent means; with `return_log_var`, (means, log-variances).
        """
        state = self.encoder(self._one_hot(x))
        mean = self.mean(state)
        return (mean, self.log_var(state)) if return_log_var else mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latent vectors.

        Parameters
        ----------
        z : torch.Tensor, shape (N, latent)
            Latent vectors.

        Returns
        -------
        torch.Tensor, shape (N, classes)
            The reconstructed one-hot vectors (logits with the cross-entropy loss).
        """
        return self.decoder(z)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct digits, with z drawn by reparameterisation in training (the mean in eval).

        Parameters
        ----------
        x : torch.Tensor, shape (N, classes) or (N,)
            One-hot vectors, or digit labels.

        Returns
        -------
        outputs : torch.Tensor, shape (N, classes)
            As `decode`.
        mean, log_var : torch.Tensor, shape (N, latent)
            The latent means and log-variances.
        """
        mean, log_var = self.encode(x, return_log_var=True)
        z = reparameterise(mean, log_var, self.training)
        return self.decode(z), mean, log_var

    def step(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the training loss of a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (N, classes) or (N,)
            One-hot vectors, or digit labels.
        y : None
            Ignored (the input is its own target).

        Returns
        -------
        loss : torch.Tensor
            Summed over the batch: reconstruction error + ``beta`` * KL.
        stats : dict of str to torch.Tensor
            ``correct`` (digits reconstructed) and ``kl``, summed over the batch.
        """
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
    """The toy VAE's training data: `count` random one-hot vectors (count, classes), float32.

    The same `seed` gives the same vectors.
    """
    generator = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, classes, (count,), generator=generator), classes).float()
