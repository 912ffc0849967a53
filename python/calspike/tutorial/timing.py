"""How long each step of `calspike run` is expected to take, said as the step starts.

Each step's cost is a reference cost per unit of its work (frames read, windows trained on
for an epoch...), measured with the default `calspike run` on 2 CPU cores, times this run's
work. Once the classifier has trained, the ratio of its real time to its expected time
rescales the later steps: it carries this machine's speed and this run's settings (batch
size, hidden units, device), which the VAEs share with the classifier.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# Seconds per unit of work on 2 CPU cores (torch 2.14.1, `calspike run` defaults, 2026-12-07).
# The trained steps count windows x epochs (the most epochs: early stopping can only shorten).
REFERENCE_S = {
    "simulation": 0.41 / 468_897,  # per frame simulated (all neurons)
    "read": 1 / 20e6,  # per byte of the data files
    "partition": 0.44 / 468_897,  # per frame windowed, figures included
    # per window-epoch, with its scoring and the logistic regression
    "classifier": 19.5 / (46_982 * 15),
    "toy": 3.73 / (10_000 * 10),  # per digit-epoch
    "vae": 58.0 / (46_982 * 15),  # per window-epoch, with its latent PCA and figures
    "svm": 5.42 / 20_000,  # per training window of the probe
    "decoding": 0.1,  # the whole step
    "conditional": 61.1 / (46_982 * 14),  # per window-epoch, with its draws and scores
}
SIMULATED_FRAMES = 468_897  # the built-in recordings' frames, all neurons
_SPEED_RANGE = (0.05, 20.0)  # the rescaling is a guess from one step: keep it sane


class StepClock:
    """Expected durations of the steps, rescaled by how fast the classifier really trained."""

    def __init__(self) -> None:
        self.speed = 1.0  # real / expected seconds of the classifier, once it has run

    def expect(self, work: str, units: float) -> float:
        """Expected seconds of `units` of `work` (a key of REFERENCE_S), at this run's speed."""
        scale = 1.0 if work in ("simulation", "read", "partition", "classifier") else self.speed
        return REFERENCE_S[work] * units * scale

    def calibrate(self, expected_s: float, actual_s: float) -> None:
        """Learn this run's speed from the classifier's expected and real seconds."""
        if expected_s > 0 and actual_s > 0:
            self.speed = min(max(actual_s / expected_s, _SPEED_RANGE[0]), _SPEED_RANGE[1])


def say_duration(seconds: float) -> str:
    """`seconds` as a reader would say it.

    'under a second', 'about 20 s', 'about 2.5 min', 'about 2 h'.

    NaN (nothing to go on) says so.
    """
    if math.isnan(seconds):
        return "unknown"
    if seconds < 1:
        return "under a second"
    if seconds < 10:
        return f"about {math.floor(seconds + 0.5)} s"
    if seconds < 89.5:
        return f"about {10 * math.floor(seconds / 10 + 0.5)} s"
    half_minutes = math.floor(seconds / 30 + 0.5)
    if half_minutes < 120:
        return f"about {half_minutes / 2:g} min"
    return f"about {math.floor(seconds / 1800 + 0.5) / 2:g} h"


def bytes_in(data: str | os.PathLike[str]) -> int:
    """Bytes of the files at `data`, a file or a folder (its files at any depth)."""
    path = Path(data)
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files)
