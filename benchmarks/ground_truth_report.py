"""The tables bench_ground_truth.py prints and the summary its JSON holds (the model card's source).

Rows are neurons (dicts: dataset, family, neuron and, per method m, m, m_info_gain,
m_lag_ms, m_r_best_lag, m_ratio). Means of r are over neurons of a group; calibration is
the median over neurons of the ratio predicted / true spikes (count methods only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

COUNT_METHODS = ("calspike", "plain", "dff", "before")  # methods whose outputs are counts
PEERS = ("oasis", "derivative", "before")  # what the new default must be ahead of


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    values = [float(e[key]) for e in rows if key in e]
    return float(np.nanmean(values)) if values else float("nan")


def _median(rows: list[dict[str, Any]], key: str) -> float:
    values = np.array([float(e[key]) for e in rows if key in e], dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def group_summary(
    rows: list[dict[str, Any]], key: str, methods: list[str], not_held_out: set[str] = frozenset()
) -> dict[str, dict[str, Any]]:
    """Per value of `key` (dataset or family): neurons, mean r, mean information gain and
    median calibration ratio of each method, and whether calspike is ahead of every peer
    (``ahead``) and of every peer that did not train on the group (``ahead_held_out``: the
    model shipped before is left out of the comparison on the datasets in `not_held_out`).
    """
    out: dict[str, dict[str, Any]] = {}
    for group in sorted({str(e[key]) for e in rows}):
        members = [e for e in rows if e[key] == group]
        entry: dict[str, Any] = {"neurons": len(members)}
        for m in methods:
            entry[m] = {
                "r": _mean(members, m),
                "info_gain": _mean(members, f"{m}_info_gain"),
                "median_lag_ms": _median(members, f"{m}_lag_ms"),
            }
            if m in COUNT_METHODS:
                entry[m]["ratio"] = _median(members, f"{m}_ratio")
        if "calspike" in methods:
            peers = [p for p in PEERS if p in methods]
            entry["ahead"] = bool(peers) and all(
                entry["calspike"]["r"] > entry[p]["r"] for p in peers
            )
            fair = [p for p in peers if not (p == "before" and group in not_held_out)]
            entry["ahead_held_out"] = all(entry["calspike"]["r"] > entry[p]["r"] for p in fair)
        out[group] = entry
    return out


def summary(
    rows: list[dict[str, Any]], methods: list[str], not_held_out: set[str] = frozenset()
) -> dict[str, Any]:
    """Everything the model card reports: per dataset, per family and overall.

    `not_held_out`: the datasets the model shipped before trained on.
    """
    datasets = group_summary(rows, "dataset", methods, not_held_out)
    families = group_summary(rows, "family", methods)
    overall = {
        m: {
            "r_mean_over_neurons": _mean(rows, m),
            "r_mean_over_datasets": float(np.mean([d[m]["r"] for d in datasets.values()])),
            **({"ratio": _median(rows, f"{m}_ratio")} if m in COUNT_METHODS else {}),
            **({"ratio_quartiles": _quartiles(rows, f"{m}_ratio")} if m in COUNT_METHODS else {}),
        }
        for m in methods
    }
    result: dict[str, Any] = {"datasets": datasets, "families": families, "overall": overall}
    if "calspike" in methods:
        result["ahead_datasets"] = [d for d, e in datasets.items() if e["ahead"]]
        result["ahead_families"] = [f for f, e in families.items() if e["ahead"]]
        result["ahead_datasets_held_out"] = [d for d, e in datasets.items() if e["ahead_held_out"]]
    return result


def _quartiles(rows: list[dict[str, Any]], key: str) -> list[float]:
    values = np.array([float(e[key]) for e in rows if key in e], dtype=np.float64)
    values = values[np.isfinite(values)]
    return [float(v) for v in np.percentile(values, [25, 75])] if values.size else []


def tables(result: dict[str, Any], methods: list[str], not_held_out: set[str]) -> str:
    """The printed tables: mean r (``*`` where `before` trained on the dataset) and ratios."""
    counted = [m for m in methods if m in COUNT_METHODS]
    lines: list[str] = []
    for title, groups in (("dataset", result["datasets"]), ("family", result["families"])):
        lines.append(
            f"{title:<30} {'n':>3}  "
            + "  ".join(f"{'r ' + m:>12}" for m in methods)
            + "   "
            + "  ".join(f"{'ratio ' + m:>14}" for m in counted)
        )
        for name, entry in groups.items():
            cells = [
                f"{entry[m]['r']:>11.3f}"
                + ("*" if m == "before" and title == "dataset" and name in not_held_out else " ")
                for m in methods
            ]
            ratios = [f"{entry[m]['ratio']:>14.2f}" for m in counted]
            lines.append(
                f"{name:<30} {entry['neurons']:>3}  " + "  ".join(cells) + "   " + "  ".join(ratios)
            )
        lines.append("")
    overall = result["overall"]
    lines.append(
        "overall, mean r over neurons:  "
        + ", ".join(f"{m} {overall[m]['r_mean_over_neurons']:.3f}" for m in methods)
    )
    lines.append(
        "overall, mean r over datasets: "
        + ", ".join(f"{m} {overall[m]['r_mean_over_datasets']:.3f}" for m in methods)
    )
    lines.append(
        "calibration, median predicted / true spikes per neuron (quartiles): "
        + ", ".join(
            f"{m} {overall[m]['ratio']:.2f} ({overall[m]['ratio_quartiles'][0]:.2f}-"
            f"{overall[m]['ratio_quartiles'][1]:.2f})"
            for m in counted
            if overall[m]["ratio_quartiles"]
        )
    )
    if "ahead_datasets" in result:
        datasets, families = result["datasets"], result["families"]
        behind = [d for d in datasets if d not in result["ahead_datasets"]]
        lines.append(
            f"calspike ahead of {', '.join(p for p in PEERS if p in methods)} on "
            f"{len(result['ahead_datasets'])} of {len(datasets)} datasets "
            f"(not on: {', '.join(behind) or 'none'}) and in "
            f"{len(result['ahead_families'])} of {len(families)} families"
        )
        held = result["ahead_datasets_held_out"]
        lines.append(
            f"  ahead of every method that did not train on the dataset: {len(held)} of "
            f"{len(datasets)} (not on: {', '.join(d for d in datasets if d not in held) or 'none'})"
        )
        mine = overall["calspike"]["r_mean_over_datasets"]
        for m in methods:
            if m != "calspike":
                difference = mine - overall[m]["r_mean_over_datasets"]
                lines.append(f"  calspike - {m}, mean r over datasets: {difference:+.3f}")
    return "\n".join(lines)
