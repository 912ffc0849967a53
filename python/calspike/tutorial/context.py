"""What every step of `calspike run` is given: the run's settings and its report folder.

`RunContext` holds no results: each step returns its own (see `calspike.tutorial.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calspike.windows import Windows


@dataclass(frozen=True)
class RunContext:
    """The settings of one `calspike run` and the folder its files go to.

    Attributes
    ----------
    folder : pathlib.Path
        The report folder being written (its figures/ and models/ exist).
    params : dict
        The checked settings (`calspike.config.check`): window, training, seed, threads...
    kinds : list of str
        The classifier's features, "raw" first.
    vae_kinds : list of str
        The VAEs' features, "raw" first (the channel they reconstruct).
    tutorial : bool
        The tutorial's own settings, SVM and decoding (`calspike run --tutorial`).
    progress : bool
        Show progress bars while training.
    device : str
        Where the models train ("cpu", "cuda", ...).
    """

    folder: Path
    params: dict[str, Any]
    kinds: list[str]
    vae_kinds: list[str]
    tutorial: bool
    progress: bool
    device: str

    def figure(self, name: str, fig: Any) -> None:
        """Save a matplotlib figure as figures/`name`.png (110 dpi) and close it."""
        import matplotlib.pyplot as plt

        fig.savefig(self.folder / "figures" / f"{name}.png", dpi=110)
        plt.close(fig)

    def model_path(self, name: str) -> Path:
        """Where the checkpoint `name` (.pt) of this run goes: models/`name`.pt."""
        return self.folder / "models" / f"{name}.pt"

    def fit_args(self) -> dict[str, Any]:
        """Settings of every fit.

        The tutorial's plain constant-rate Adam without clipping, or calspike's.
        """
        p = self.params
        tutorial = {"schedule": "constant", "clip": None} if self.tutorial else {}
        return {
            "batch_size": p["batch_size"],
            "lr": p["lr"],
            "patience": p["patience"],
            "device": self.device,
            "seed": p["seed"],
            "progress": self.progress,
            **tutorial,
        }


def labels(windows: Windows) -> np.ndarray:
    """The windows' spike labels (N,) bool; ValueError if they carry none."""
    if windows.did_spike is None:
        raise ValueError("the windows carry no spike labels")
    return windows.did_spike
