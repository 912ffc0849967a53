"""Feature stacks for the models: per-frame channels of each window, computed in C++."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calspike import _core, config
from calspike.data.recording import check_float32_range, check_numeric_dtype
from calspike.windows import Windows

FEATURES = ("raw", "delta", "quad", "delta_quad")
TUTORIAL_DELTA = "tutorial_delta"  # the tutorial's DeltaFeature, for `calspike run --tutorial` only


def features(
    windows: Windows | np.ndarray, kinds: Sequence[str] = FEATURES, *, threads: int = 0
) -> np.ndarray:
    """Stack per-frame features of windows, computed in C++.

    Parameters
    ----------
    windows : Windows or array_like, shape (count, length)
        The windows (`partition`), or their values; an array that is not float32 C-ordered
        is converted once.
    kinds : sequence of str or str
        The channels, in order: "raw" x[t]; "delta" d[t] = x[t] - x[t-1] with d[0] = 0 (a
        real temporal difference); "quad" x[t]**2; "delta_quad" d[t]**2; and
        "tutorial_delta", the tutorial's DeltaFeature (x minus a zero sequence whose last
        frame holds x[0]: x[t] for t < L-1, x[L-1] - x[0] at the last frame), which is not a
        temporal difference and exists only to reproduce the tutorial exactly.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    ndarray, shape (count, length, len(kinds)), float32
        The feature stack, allocated in C++ and handed over without a copy
        (`torch.from_numpy` shares it).

    Raises
    ------
    ValueError
        For windows that are not 2-D or have no frame, an empty or unknown `kinds`, or a bad
        `threads`.
    DataError
        For non-numeric windows or values beyond float32's range.

    Examples
    --------
    >>> import numpy as np
    >>> import calspike
    >>> stack = calspike.features(np.ones((5, 20)), ["raw", "delta"])
    >>> stack.shape, stack.dtype
    ((5, 20, 2), dtype('float32'))
    """
    values = windows.windows if isinstance(windows, Windows) else np.asarray(windows)
    check_numeric_dtype(values.dtype, "windows")
    check_float32_range(values, "windows")
    if values.ndim != 2:
        raise ValueError(f"windows must be 2-D (count, length), got shape {values.shape}")
    if values.shape[1] == 0:
        raise ValueError("windows must have at least one frame per window")
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = list(kinds)
    if not kinds:
        raise ValueError(f"kinds must name at least one of {', '.join(FEATURES)}")
    for kind in kinds:
        if kind not in FEATURES and kind != TUTORIAL_DELTA:
            raise ValueError(
                f"unknown feature {kind!r} in kinds: choose from {', '.join(FEATURES)}"
            )
    threads = config.check({"threads": threads})["threads"]
    values = np.ascontiguousarray(values, dtype=np.float32)
    return _core.features(values, kinds, threads)


def aligned_windows(windows: Windows, traces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Cut the frames of each window from other per-neuron traces.

    For example the spike rates that `infer_spike_rates` gives for the same recordings,
    to stack as an extra channel next to ``features(windows)``.

    Parameters
    ----------
    windows : Windows
        Windows from `partition`: their neurons, centre frames and ``len_pre``/``len_post``
        are used.
    traces : ndarray, shape (neurons, frames), or sequence of 1-D arrays
        One trace per neuron of the windows (in ``windows.neuron_names`` order), in the
        windows' frames.

    Returns
    -------
    ndarray, shape (count, len_pre + len_post), float32
        Row k is ``traces[neuron[k]][frame[k] - len_pre : frame[k] + len_post]``.

    Raises
    ------
    ValueError
        For a number of traces other than the windows' neurons, a trace that is not
        numeric, not 1-D or too short for a window, or a non-finite value inside a window.
    """
    names = windows.neuron_names
    if isinstance(traces, np.ndarray) and traces.ndim != 2:
        raise ValueError(
            f"traces must be (neurons, frames) or a list of 1-D traces, got shape {traces.shape}"
        )
    if len(traces) != len(names):
        raise ValueError(
            f"traces must have one row per neuron of the windows ({len(names)}), got {len(traces)}"
        )
    offsets = np.arange(-int(windows.params["len_pre"]), int(windows.params["len_post"]))
    out = np.empty((len(windows), offsets.size), np.float32)
    for n in np.unique(windows.neuron):
        try:
            trace = np.asarray(traces[n], dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(f"traces[{n}] ({names[n]}) must be numeric: {error}") from None
        if trace.ndim != 1:
            raise ValueError(f"traces[{n}] ({names[n]}) must be 1-D, got shape {trace.shape}")
        rows = np.flatnonzero(windows.neuron == n)
        frames = windows.frame[rows, None] + offsets
        if frames.max() >= trace.size:
            raise ValueError(
                f"traces[{n}] ({names[n]}) has {trace.size} frames; its windows reach frame "
                f"{int(frames.max())}"
            )
        out[rows] = trace[frames]
    if not np.isfinite(out).all():
        bad = int(windows.neuron[np.flatnonzero(~np.isfinite(out).all(axis=1))[0]])
        raise ValueError(f"traces[{bad}] ({names[bad]}) is NaN or infinite inside a window")
    return out


def parse_features(
    text: str | list[str] | tuple[str, ...], *, tutorial: bool = False, name: str = "features"
) -> list[str]:
    """Feature names of a comma-separated list ("raw,delta" -> ["raw", "delta"]).

    ValueError names an unknown feature.

    "tutorial_delta" is accepted only with `tutorial` (the `--tutorial` mode of `calspike run`).
    """
    kinds = [k.strip() for k in text.split(",")] if isinstance(text, str) else list(text)
    allowed = (*FEATURES, TUTORIAL_DELTA) if tutorial else FEATURES
    if TUTORIAL_DELTA in kinds and not tutorial:
        raise ValueError(
            f"{name}: tutorial_delta is the tutorial's DeltaFeature, not a temporal difference; "
            "it is kept for `calspike run --tutorial` only (use delta)"
        )
    if not kinds or any(k not in allowed for k in kinds):
        raise ValueError(
            f"{name} must be a comma-separated list of {', '.join(allowed)}, got {text!r}"
        )
    if len(set(kinds)) != len(kinds):  # a channel twice is the same information twice
        raise ValueError(f"{name} names a feature twice, got {text!r}")
    return kinds
