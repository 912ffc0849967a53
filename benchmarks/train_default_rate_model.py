"""Train calspike's shipped default spike-rate model from the SpikeFinder training data.

    python benchmarks/train_default_rate_model.py ../shared/data/spikefinder

Reproducible: seed 0, 2 CPU threads, `calspike train-rate`'s settings except: 8 epochs over
all 24 neurons without early stopping (15 % of 24 neurons made a validation loss too noisy
to stop on), and 16 simulated neurons per indicator added to the training set.
benchmarks/bench_spikefinder.py trains its folds the same way. Writes the full checkpoint to a temporary
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
from calspike.spikes.rate import default_model_path
from calspike.spikes.rate_training import export_rate_model, train_rate_model

EPOCHS = 8
SIMULATED = 16  # per indicator


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
        result = train_rate_model(recordings, model=SpikeRateModel(), validation=None, epochs=EPOCHS,
                                  seed=args.seed, device="cpu", checkpoint=checkpoint, progress=False,
                                  simulated=SIMULATED)
        export_rate_model(checkpoint, args.output)
    last = result.history[-1]
    print(f"trained on {sum(r.neurons for r in recordings)} real and {3 * SIMULATED} simulated neurons in "
          f"{time.perf_counter() - start:.0f} s; last epoch: training loss {last['train_loss']:.4f}, "
          f"chunk correlation {last['train_correlation'] / last['train_with_spikes']:.3f}")
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
