"""calspike: deep learning on calcium imaging, with a fast C++ core.

Read or simulate recordings, cut them into labelled windows at memory speed, stack
features for PyTorch models (every array arrives without a copy), train the LSTM
spike classifier and the VAEs, and run the tutorial end to end with `calspike.run`;
infer spike rates for every frame of every neuron (`infer_spike_rates`, `deconvolve`,
`infer` on files) and score them (`score_files`).

Every public name loads on first use, so `import calspike` costs almost nothing and
the PyTorch half loads only when a model is asked for. The public names are declared once,
in ``__init__.pyi`` (what type checkers read); this module reads them from there on first use.
"""

# No imports here: see calspike.cli, start-up must be interruptible cleanly.

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - this file's annotations only (checkers read __init__.pyi)
    from typing import Any

# Submodules reachable as attributes without an import statement (calspike.config ...).
_SUBMODULES = (
    "config",
    "dask",
    "data",
    "errors",
    "models",
    "preprocess",
    "spikes",
    "training",
    "tutorial",
    "windows",
)
_attached: "tuple[Any, list[str]] | None" = None  # lazy_loader's __getattr__, the names


def _public() -> "tuple[Any, list[str]]":
    """lazy_loader's loader for the names ``__init__.pyi`` declares, and those names."""
    global _attached
    if _attached is None:
        import lazy_loader

        load, _, names = lazy_loader.attach_stub(__name__, __file__)
        _attached = load, sorted([*names, "build_info"])
    return _attached


def _load_core() -> "Any":
    import importlib

    try:
        return importlib.import_module("calspike._core")
    except ImportError as error:  # pragma: no cover - only in broken installs
        raise ImportError(
            "calspike's compiled extension (calspike._core) is missing or does not load: "
            f"{error}. Reinstall the package (pip install --force-reinstall calspike)."
        ) from error


def __getattr__(name: str) -> "object":
    if name == "__all__":
        return list(_public()[1])
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"calspike.{name}")
    load, names = _public()
    if name in names:
        if name != "__version__":
            _load_core()
        value = load(name)
        globals()[name] = value  # later look-ups skip this function (lazy_loader < 0.5 does not)
        return value
    raise AttributeError(f"module 'calspike' has no attribute {name!r}")


def __dir__() -> "list[str]":
    """The public names and submodules, not the package's own machinery."""
    return sorted({*_public()[1], *_SUBMODULES})


def build_info() -> "dict[str, object]":
    """Describe how the C++ core was built.

    Returns
    -------
    dict
        ``version``, ``openmp`` (bool), ``openmp_version``, ``max_threads``,
        ``compiler``, ``cplusplus`` (the C++ standard) and ``assertions`` (bool).

    Raises
    ------
    ImportError
        When the compiled extension (calspike._core) is missing or does not load.
    """
    return dict(_load_core().build_info())
