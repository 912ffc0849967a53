"""Fits a small classifier with calspike.training.fit; run directly or under torchrun.

Usage: python _ddp_worker.py OUT.pt  (rank 0 saves the final weights to OUT.pt)
"""

import os
import sys

import numpy as np
import torch

from calspike.models import SpikeClassifier
from calspike.training import fit


def main(out: str) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((600, 12, 2)).astype(np.float32)
    y = x[:, 6:, 0].sum(axis=1) > 0  # a learnable label
    torch.manual_seed(3)
    model = SpikeClassifier(channels=2, hidden=16)
    result = fit(
        model, x, y, validation=(x[:100], y[:100]), epochs=3, batch_size=64, seed=5, progress=False
    )
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save({"state": model.state_dict(), "history": result.history}, out)


if __name__ == "__main__":
    main(sys.argv[1])
    # torch 2.14's gloo sometimes aborts in C++ teardown after the work is done ("terminate
    # called without an active exception", no Python frame; about 1 run in 15 here): leave
    # without it, so torchrun reports what the fit did
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
