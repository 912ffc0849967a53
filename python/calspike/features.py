"""Feature stacks for the models: per-frame channels of each window, computed in C++."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calspike import _core, config
from calspike.windows import Windows

FEATURES = ("raw", "delta", "quad", "delta_quad")


def features(
    windows: Windows | np.ndarray, kinds: Sequence[str] = FEATURES, *, threads: int = 0
) -> np.ndarray:
    """Stack per-frame features of windows into a float32 (count, length, channels) array.

    ``kinds`` picks the channels in order: "raw" x[t]; "delta" d[t] = x[t] - x[t-1] with
    d[0] = 0 (a real temporal difference); "quad" x[t]**2; "delta_quad" d[t]**2.
    A (count, length) array that is not float32 C-ordered is converted once. The result
    is allocated in C++ and handed over without a copy (`torch.from_numpy` shares it).
    """
    values = windows.windows if isinstance(windows, Windows) else np.asarray(windows)
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
        if kind not in FEATURES:
            raise ValueError(f"unknown feature {kind!r} in kinds: choose from {', '.join(FEATURES)}")
    threads = config.check({"threads": threads})["threads"]
    values = np.ascontiguousarray(values, dtype=np.float32)
    return _core.features(values, kinds, threads)
