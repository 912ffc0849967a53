"""Choosing windows: balanced classes, and splits by neuron so that no neuron is on two sides."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from calspike.windows import Windows


class WindowLabels(Protocol):
    """What splitting and sampling read of windows: `Windows`, or a store's `StoredWindows`."""

    @property
    def did_spike(self) -> np.ndarray | None:
        """The spike label of each window, bool (count,); None without labels."""

    @property
    def neuron(self) -> np.ndarray:
        """The neuron of each window, (count,), an index into `neuron_names`."""

    @property
    def params(self) -> dict[str, Any]:
        """The window settings."""

    @property
    def neuron_names(self) -> tuple[str, ...]:
        """One label per neuron."""

    def __len__(self) -> int: ...


def balanced_indices(
    did_spike: np.ndarray, per_class: int | None = None, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Draw indices of an equal number of spike and no-spike windows, shuffled.

    Parameters
    ----------
    did_spike : ndarray, shape (count,), bool
        The windows' labels.
    per_class : int, optional
        Windows drawn from each class. None: the size of the smaller class, drawn without
        replacement; a larger request draws without replacement while a class has enough
        windows and completes the rest with replacement.
    seed : int or numpy.random.Generator
        The same seed gives the same indices.

    Returns
    -------
    ndarray, shape (2 * per_class,), int
        Indices into `did_spike`, shuffled.

    Raises
    ------
    ValueError
        For labels that are not a 1-D bool array, a `per_class` that is not an integer
        >= 0, or a class without windows (unless `per_class` is 0).
    """
    labels = np.asarray(did_spike)
    if labels.ndim != 1 or labels.dtype != np.bool_:
        raise ValueError(
            f"did_spike must be a 1-D bool array, got dtype {labels.dtype} shape {labels.shape}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    classes = [np.flatnonzero(labels), np.flatnonzero(~labels)]
    smaller = min(c.size for c in classes)
    if per_class is not None and (
        isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 0
    ):
        raise ValueError(f"per_class must be an integer >= 0, got {per_class!r}")
    if smaller == 0 and per_class != 0:
        raise ValueError(
            f"cannot balance: {classes[0].size} spike and {classes[1].size} no-spike windows "
            "(a class has no windows)"
        )
    if per_class is None:
        per_class = smaller
    chosen = []
    for members in classes:
        take = min(per_class, members.size)
        picks = rng.choice(members, take, replace=False)
        if per_class > take:  # not enough windows: the rest with replacement
            picks = np.concatenate([picks, rng.choice(members, per_class - take, replace=True)])
        chosen.append(picks)
    index = np.concatenate(chosen)
    rng.shuffle(index)
    return index


def balance(
    windows: Windows, per_class: int | None = None, seed: int | np.random.Generator = 0
) -> Windows:
    """Take a balanced, shuffled subset of labelled windows.

    Parameters
    ----------
    windows : Windows
        Labelled windows (`partition` with spikes).
    per_class : int, optional
        Windows of each class; as for `balanced_indices`.
    seed : int or numpy.random.Generator
        The same seed gives the same subset.

    Returns
    -------
    Windows
        As many spike as no-spike windows, in random order (copies).

    Raises
    ------
    ValueError
        For windows without labels, and as `balanced_indices` does.
    """
    if windows.did_spike is None:
        raise ValueError("windows has no spike labels to balance")
    return windows.subset(balanced_indices(windows.did_spike, per_class, seed))


def split_by_neuron(
    neuron: np.ndarray, fractions: tuple[float, ...] = (0.7, 0.15, 0.15), seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Split windows into parts such that no neuron has windows in two of them.

    Neurons are shuffled (seeded) and dealt greedily to the part furthest below its
    share of windows, so parts hold about `fractions` of the windows. Every part gets at
    least one neuron.

    Parameters
    ----------
    neuron : ndarray, shape (count,)
        The neuron of each window (e.g. ``Windows.neuron``).
    fractions : tuple of float
        The parts' shares of the windows (normalised to sum to 1).
    seed : int
        The same seed gives the same split.

    Returns
    -------
    tuple of ndarray
        One array of window indices per fraction.

    Raises
    ------
    ValueError
        For a `neuron` that is not 1-D, fractions that are not positive numbers, or fewer
        neurons than parts.

    Examples
    --------
    >>> import numpy as np
    >>> import calspike
    >>> train, test = calspike.split_by_neuron(np.repeat(np.arange(4), 10), (0.5, 0.5))
    >>> len(train), len(test)
    (20, 20)
    """
    neuron = np.asarray(neuron)
    if neuron.ndim != 1:
        raise ValueError(f"neuron must be 1-D, got shape {neuron.shape}")
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or shares.size < 1 or np.any(~np.isfinite(shares)) or np.any(shares <= 0):
        raise ValueError(f"fractions must be positive numbers, got {fractions!r}")
    shares = shares / shares.sum()
    ids, counts = np.unique(neuron, return_counts=True)
    if ids.size < shares.size:
        raise ValueError(
            f"cannot split {ids.size} neuron(s) into {shares.size} parts with no neuron in two"
        )
    order = np.random.default_rng(seed).permutation(ids.size)
    assigned = np.empty(ids.size, dtype=np.int64)
    filled = np.zeros(shares.size)
    total = counts.sum()
    for rank, k in enumerate(order):
        if rank < shares.size:  # one neuron each first, so no part is empty
            part = rank
        else:
            part = int(np.argmax(shares - filled / total))
        assigned[k] = part
        filled[part] += counts[k]
    part_of_window = assigned[np.searchsorted(ids, neuron)]
    return tuple(np.flatnonzero(part_of_window == p) for p in range(shares.size))


SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


def neuron_split(
    windows: WindowLabels, seed: int = 0, fractions: tuple[float, ...] = SPLIT_FRACTIONS
) -> dict[str, np.ndarray]:
    """Neuron indices of the train, val and test parts (about 70/15/15 % of the windows), seeded."""
    if len(windows) == 0:
        length = int(windows.params.get("len_pre", 0)) + int(windows.params.get("len_post", 0))
        raise ValueError(
            f"no windows to split: every one of the {len(windows.neuron_names)} trace(s) "
            f"is too short for a window of len_pre + len_post = {length} frames"
        )
    parts = split_by_neuron(windows.neuron, fractions, seed)
    return {
        name: np.unique(windows.neuron[index])
        for name, index in zip(("train", "val", "test"), parts, strict=True)
    }


def labelled_subset(
    windows: WindowLabels,
    neurons: np.ndarray,
    *,
    balanced: bool = True,
    max_windows: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of the windows of `neurons`, at most `max_windows`.

    With `balanced`, as many spike as no-spike windows.
    """
    if windows.did_spike is None:
        raise ValueError(
            "the windows carry no spike labels: training and scoring need ground truth"
        )
    index = np.flatnonzero(np.isin(windows.neuron, neurons))
    if index.size == 0:
        raise ValueError("no windows belong to the chosen neurons")
    rng = np.random.default_rng(seed)
    if balanced:
        labels = windows.did_spike[index]
        smaller = int(min(labels.sum(), (~labels).sum()))
        if smaller == 0:
            raise ValueError(
                f"cannot balance the windows of {len(np.unique(windows.neuron[index]))} neuron(s): "
                f"{int(labels.sum())} spike and {int((~labels).sum())} no-spike windows"
            )
        per_class = smaller if max_windows is None else min(smaller, max_windows // 2)
        chosen: np.ndarray = index[balanced_indices(labels, per_class, rng)]
        return chosen
    if max_windows is not None and index.size > max_windows:
        index = np.sort(rng.choice(index, max_windows, replace=False))
    return index
