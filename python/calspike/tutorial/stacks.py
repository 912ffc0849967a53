"""The feature stacks of a run's windows, each computed once however many steps use it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calspike.feature_stacks import features
from calspike.tutorial import generative
from calspike.tutorial.data_steps import Split
from calspike.windows import Windows


class FeatureStacks:
    """Each part's feature stacks and centred windows, made on first use and kept.

    Keyed by the part's name (`Split.canonical`), the features and whether the windows are
    centred, never by an object's identity, which Python recycles once the object is gone.
    What is kept depends on nothing but the split: any step may ask for any stack, first
    or not.

    Parameters
    ----------
    split : Split
        The run's windows.
    """

    def __init__(self, split: Split) -> None:
        self.split = split
        self._stacks: dict[tuple[str, bool, tuple[str, ...]], np.ndarray] = {}
        self._centred: dict[str, Windows] = {}

    def windows(self, part: str, centred: bool = False) -> Windows:
        """The windows of `part`; `centred`: each minus its own mean (`generative.centred`)."""
        if not centred:
            return self.split.windows(part)
        name = self.split.canonical(part)
        if name not in self._centred:
            self._centred[name] = generative.centred(self.split.windows(name))
        return self._centred[name]

    def stack(self, part: str, kinds: Sequence[str], centred: bool = False) -> np.ndarray:
        """The feature stack float32 (N, L, len(kinds)) of `part`'s windows (centred or not)."""
        key = (self.split.canonical(part), centred, tuple(kinds))
        if key not in self._stacks:
            self._stacks[key] = features(self.windows(part, centred), list(kinds))
        return self._stacks[key]
