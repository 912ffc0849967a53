"""Draw real SpikeFinder traces next to calspike's simulated default data.

    python docs/simulator_figure.py SPIKEFINDER_DIR [-o docs/simulator_vs_real.png]

Left: datasets 4, 5, 6 (real); right: calspike.default_recordings() (simulated, shaped
like them). Each panel shows 40 s of two neurons: calcium in green, spikes in black below.
The table under the traces compares per-neuron statistics (medians over neurons).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import calspike

CALCIUM_COLOUR, SPIKE_COLOUR = "#2a9d3c", "black"


def statistics(recordings):
    """Median over neurons of three statistics.

    Noise (median |frame-to-frame change|), 1-99% range and spike rate (Hz).
    """
    rows = []
    for recording in recordings:
        for n in range(recording.neurons):
            trace = recording.trace(n)
            spikes = recording.spikes[n, : recording.lengths[n]]
            rows.append(
                (
                    np.median(np.abs(np.diff(trace))),
                    np.percentile(trace, 99) - np.percentile(trace, 1),
                    spikes.mean() * recording.rate,
                )
            )
    return np.median(np.array(rows), axis=0)


def draw(axis, recording, neuron, start_s, seconds=40.0):
    first = int(start_s * recording.rate)
    frames = slice(first, first + int(seconds * recording.rate))
    time = np.arange(frames.stop - frames.start) / recording.rate
    trace = recording.calcium[neuron, frames]
    axis.plot(time, trace, color=CALCIUM_COLOUR, linewidth=0.7)
    low = np.nanmin(trace) - 0.25 * np.ptp(trace[np.isfinite(trace)])
    spike_frames = np.flatnonzero(recording.spikes[neuron, frames] > 0)
    axis.vlines(
        time[spike_frames],
        low,
        low + 0.15 * np.ptp(trace[np.isfinite(trace)]),
        color=SPIKE_COLOUR,
        linewidth=0.8,
    )
    axis.set_xlim(0, seconds)
    axis.spines[["top", "right"]].set_visible(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spikefinder", type=Path)
    parser.add_argument(
        "-o", "--output", type=Path, default=Path(__file__).with_name("simulator_vs_real.png")
    )
    args = parser.parse_args()
    real = calspike.read_spikefinder(args.spikefinder)
    simulated = calspike.default_recordings(seed=0)

    figure, axes = plt.subplots(6, 2, figsize=(12, 11), sharex=True)
    for row, (r, s) in enumerate(zip(real, simulated, strict=True)):
        for k in range(2):
            draw(axes[2 * row + k, 0], r, neuron=k, start_s=60)
            draw(axes[2 * row + k, 1], s, neuron=k, start_s=60)
            axes[2 * row + k, 0].set_ylabel(f"{r.name}\nneuron {k}\ndF/F", fontsize=8)
            axes[2 * row + k, 1].set_ylabel(f"{s.name}\nneuron {k}\ndF/F", fontsize=8)
    axes[0, 0].set_title("real (SpikeFinder training data)")
    axes[0, 1].set_title("simulated (calspike.default_recordings)")
    for axis in axes[-1]:
        axis.set_xlabel("time (s)")
    real_stats, sim_stats = statistics(real), statistics(simulated)
    text = (
        f"medians over neurons          real    simulated\n"
        f"noise, median |dF/F step|     {real_stats[0]:.3f}   {sim_stats[0]:.3f}\n"
        f"range, 1st-99th percentile    {real_stats[1]:.2f}    {sim_stats[1]:.2f}\n"
        f"firing rate (Hz)              {real_stats[2]:.2f}    {sim_stats[2]:.2f}"
    )
    figure.text(0.5, 0.005, text, ha="center", va="bottom", family="monospace", fontsize=9)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output}\n{text}")


if __name__ == "__main__":
    main()
