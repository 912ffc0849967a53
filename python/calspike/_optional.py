"""Optional dependencies: imported only where used, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

# the extra of pyproject.toml that brings each optional package
EXTRAS = {"pynwb": "nwb", "hdmf": "nwb", "h5py": "hdf5", "zarr": "zarr", "dask": "dask", "distributed": "dask"}


class MissingExtra(ImportError):
    """An optional package calspike needs for this input or option is not installed."""


def require(module: str, what: str) -> ModuleType:
    """Import `module` (e.g. "pynwb"); MissingExtra naming `what` needs it and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "all")
        raise MissingExtra(f"{what} needs the optional package {top}: pip install 'calspike[{extra}]' "
                           "(or 'calspike[all]')") from None
