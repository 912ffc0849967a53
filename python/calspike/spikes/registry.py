"""The spike-inference methods by name: what ``--method`` chooses, here and on Dask workers.

A new method is a class that follows `method.SpikeMethod`, listed here (and among the
``method`` setting's choices in calspike.config).
"""

from __future__ import annotations

from calspike.spikes.method import MethodSettings, SpikeMethod
from calspike.spikes.oasis_method import OasisMethod
from calspike.spikes.rate_method import RateModelMethod

METHODS: dict[str, type[SpikeMethod]] = {
    RateModelMethod.name: RateModelMethod,
    OasisMethod.name: OasisMethod,
}


def method_class(name: str) -> type[SpikeMethod]:
    """The class of the method called `name`; ValueError naming the known ones otherwise."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {name!r}")
    return METHODS[name]


def build_method(name: str, settings: MethodSettings) -> SpikeMethod:
    """The method called `name`, built from `settings` (loading nothing yet)."""
    return method_class(name).from_settings(settings)
