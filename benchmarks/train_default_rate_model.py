"""Train calspike's shipped default spike-rate model from the SpikeFinder training data.

    python benchmarks/train_default_rate_model.py ../shared/data/spikefinder

Reproducible: seed 0, 2 CPU threads, the same settings as `calspike train-rate` by default
(15 % of neurons held out for early stopping). Writes the full checkpoint to a temporary
folder and the small inference-only copy to python/calspike/weights/spike_rate_default.pt.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from calspike.data import load_recordings
from calspike.models import SpikeRateModel
from calspike.spikerate import default_model_path, export_rate_model, train_rate_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="SpikeFinder training folder (N.train.calcium.csv, N.train.spikes.csv)")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).parents[1] / "python" / "calspike"
                        / "weights" / default_model_path().name, help="where the inference-only model goes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    recordings = load_recordings(args.data)
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "rate.pt"
        result = train_rate_model(recordings, model=SpikeRateModel(), epochs=10, patience=3, seed=args.seed,
                                  device="cpu", checkpoint=checkpoint, progress=False)
        export_rate_model(checkpoint, args.output)
    best = result.history[result.best_epoch - 1]
    print(f"trained on {sum(r.neurons for r in recordings)} neurons in {time.perf_counter() - start:.0f} s; "
          f"best epoch {result.best_epoch}: validation loss {best['val_loss']:.4f}, "
          f"chunk correlation {best['val_correlation'] / best['val_with_spikes']:.3f}")
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
