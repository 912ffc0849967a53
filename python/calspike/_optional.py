"""Optional dependencies: imported only where used.

A missing one raises an error that names the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from calspike.errors import MissingExtra as MissingExtra  # noqa: PLC0414 - raised here, and imported from here too

# the extra of pyproject.toml that brings each optional package
EXTRAS = {
    "pynwb": "nwb",
    "hdmf": "nwb",
    "h5py": "hdf5",
    "zarr": "zarr",
    "dask": "dask",
    "distributed": "dask",
}


def require(module: str, what: str) -> ModuleType:
    """Import `module` (e.g. "pynwb").

    If it is not installed, MissingExtra says that `what` needs it and names the extra to
    install.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "all")
        raise MissingExtra(
            f"{what} needs the optional package {top}: pip install 'calspike[{extra}]' "
            "(or 'calspike[all]')"
        ) from None
