"""When does the fluorescence rise, relative to the recorded spikes? Per ground-truth dataset.

For every recording (a CASCADE segment or a SpikeFinder neuron), the spike-triggered
average of its z-scored fluorescence from 0.5 s before to 1 s after each spike (weighted
by the spikes in the frame), and the time of its steepest rise (ms, negative: before the
spike). Printed per dataset as the median over recordings. A model learns the delay of the
datasets it is trained on; a dataset whose delay lies far outside theirs is scored late
or early whatever the model (SpikeFinder dataset 4: -60 ms, every other dataset -5 to +85).

    python benchmarks/ground_truth_timing.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder
"""

from __future__ import annotations

import argparse

import numpy as np
from ground_truth_args import add_data_arguments, parse_with_data

from calspike.data import Recording, read_ground_truth, read_spikefinder
from calspike.spikes.rate_training import dataset_of


def steepest_rise_ms(recording: Recording, row: int) -> float | None:
    """The time (ms from the spike) of the steepest rise of one row's spike-triggered average.

    None for a row without spikes.
    """
    assert recording.lengths is not None and recording.spikes is not None
    n = int(recording.lengths[row])
    calcium = recording.calcium[row, :n].astype(np.float64)
    spikes = np.nan_to_num(recording.spikes[row, :n])
    if np.isfinite(calcium).sum() < 100:
        return None
    calcium = (calcium - np.nanmedian(calcium)) / np.nanstd(calcium)
    before, after = int(0.5 * recording.rate), int(1.0 * recording.rate)
    total, weight = np.zeros(before + after), 0.0
    for frame in np.flatnonzero(spikes > 0):
        if (
            before <= frame < n - after
            and np.isfinite(window := calcium[frame - before : frame + after]).all()
        ):
            total += window * spikes[frame]
            weight += spikes[frame]
    if weight == 0:
        return None
    times_ms = (np.arange(before + after - 1) + 0.5 - before) / recording.rate * 1000
    return float(times_ms[np.argmax(np.diff(total / weight))])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    args = parse_with_data(parser)
    rises: dict[str, list[float]] = {}
    for recording in read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder):
        for row in range(recording.neurons):
            rise = steepest_rise_ms(recording, row)
            if rise is not None:
                rises.setdefault(dataset_of(recording), []).append(rise)
    print(
        f"{'dataset':<8} {'recordings':>10}  "
        "steepest rise of the spike-triggered average (ms; median, range)"
    )
    for dataset, values in sorted(rises.items()):
        print(
            f"{dataset:<8} {len(values):>10}  {np.median(values):+6.0f}  "
            f"({min(values):+.0f} to {max(values):+.0f})"
        )


if __name__ == "__main__":
    main()
