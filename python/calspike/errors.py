"""What calspike raises and warns, in one place, so that a user can catch or filter it.

Every warning calspike gives is a `CalspikeWarning`: ``warnings.simplefilter("ignore",
calspike.CalspikeWarning)`` silences them all, ``"error"`` makes them errors.
"""

from __future__ import annotations


class CalspikeWarning(UserWarning):
    """The base of every warning calspike gives."""


class DataError(ValueError):
    """Malformed data: the message names the file (or array), the row and the column at fault."""


class UsageError(ValueError):
    """A command's arguments cannot work (found before any data is read): exit code 2."""


class MissingExtra(ImportError):
    """An optional package calspike needs for this input or option is not installed."""


class DataWarning(CalspikeWarning):
    """A quirk of a readable file that calspike handled.

    The message names the file and what was done.
    """


class EmptyNeuronWarning(CalspikeWarning):
    """Some neurons hold no finite frame: their outputs are NaN."""


class NoiseWarning(CalspikeWarning):
    """A neuron's noise level lies outside the range the rate model was trained on."""


class FrameRateWarning(CalspikeWarning):
    """The recording's frame rate lies outside the range the rate model was trained on."""


class NoGroundTruthWarning(CalspikeWarning):
    """Some neurons have no ground truth (no finite frame).

    They score NaN and are left out of the means.
    """
