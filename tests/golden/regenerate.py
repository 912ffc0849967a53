"""Regenerate the golden files the regression tests compare against (run from the repository root):

    python tests/golden/regenerate.py

Do it only for a change meant to change results, and say which and why in the commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
QUICK_RUN = {
    "quick": True,
    "epochs": 2,
    "vae_epochs": 2,
    "toy_epochs": 2,
    "max_windows": 3000,
    "seed": 0,
    "threads": 1,
    "device": "cpu",
}
INPUT = {"neurons": 4, "frames": 3000, "rate": 30.0, "seed": 11}


def quick_run_metrics() -> dict[str, object]:
    """The numbers of a seeded quick run on the built-in data (timings left out)."""
    import torch

    import calspike

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        result = calspike.run(out=Path(folder) / "report", progress=False, log=None, **QUICK_RUN)
    return {
        key: value for key, value in result.metrics.items() if key not in ("timings_s", "versions")
    }


def rate_model_predictions() -> tuple[np.ndarray, np.ndarray]:
    """(the fixed input, the shipped model's spikes per frame for it)."""
    import calspike

    recording = calspike.simulate(
        INPUT["neurons"], INPUT["frames"], INPUT["rate"], seed=INPUT["seed"]
    )
    spikes, _ = calspike.infer_spike_rates(recording, threads=1, device="cpu")
    return recording.calcium, spikes


def main() -> None:
    (HERE / "quick_run_metrics.json").write_text(json.dumps(quick_run_metrics(), indent=1) + "\n")
    calcium, spikes = rate_model_predictions()
    np.savez_compressed(HERE / "rate_model_predictions.npz", calcium=calcium, spikes=spikes)
    print(
        f"wrote {HERE / 'quick_run_metrics.json'} and {HERE / 'rate_model_predictions.npz'}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
