"""The checkpoint format, owned here alone.

What a checkpoint holds, its checksum, saving (atomic) and loading (weights only, checksum
verified).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from calspike._inputs import open_input
from calspike._io import recorded_path
from calspike.data.recording import DataError
from calspike.models import CalspikeModel, build_model

if TYPE_CHECKING:
    from calspike.training.loop import FitResult

CHECKPOINT_FORMAT = 2  # 2: a SHA-256 of the contents (calspike._checksum) is stored and checked


_REQUIRED_KEYS = ("kind", "model_config", "model")


def state_digest(value: Any) -> str:
    """SHA-256 (hex) of `value`.

    Every tensor's dtype, shape and bytes, every key and scalar, in order.
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            digest.update(f"K{key!r}".encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:  # None, bool, int, float, str, bytes, torch.Size, dtypes: their repr is exact
        digest.update(f"S{type(value).__name__}:{value!r}".encode())


def save_training_state(
    path: Path,
    model: CalspikeModel,
    optimiser: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    generator: torch.Generator,
    device: torch.device,
    result: FitResult,
    best: dict[str, Any],
    bad_epochs: int,
    settings: dict[str, Any],
    extra: dict[str, Any] | None,
) -> None:
    """Everything a fit needs to resume, written after every epoch."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "kind": model.kind,
        "model_config": dict(model.config),
        "model": model.state_dict(),
        "optimizer": optimiser.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "rng": {
            "torch": torch.get_rng_state(),
            "batches": generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        },
        "history": result.history,
        "best": best,
        "bad_epochs": bad_epochs,
        "stopped_early": result.stopped_early,
        "fit": settings,
        "extra": extra or {},
    }
    save_checkpoint(state, path)


def save_model(
    model: CalspikeModel,
    path: str | os.PathLike[str],
    extra: dict[str, Any] | None = None,
    weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Save an inference-only checkpoint: what ships and what reports keep.

    Kind, config, weights (the model's, or `weights`) and plain `extra` data; no optimiser
    state or history.
    """
    state = weights if weights is not None else model.state_dict()
    save_checkpoint(
        {
            "kind": model.kind,
            "model_config": dict(model.config),
            "model": {key: value.detach().clone() for key, value in state.items()},
            "best": {"state": None},
            "extra": extra or {},
        },
        path,
    )


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """torch.save `state` to `path`, atomically (a temporary file renamed into place).

    With the current format and a checksum of its contents, and the file's SHA-256 in a
    record beside it (`calspike._io.recorded_path`: what lets calspike replace it later).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {key: value for key, value in state.items() if key != "checksum"}
    payload["format"] = CHECKPOINT_FORMAT
    with recorded_path(target) as temporary:
        torch.save({**payload, "checksum": state_digest(payload)}, temporary)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's contents, read with ``weights_only=True`` (no code runs).

    ValueError naming the file when it is not a readable calspike checkpoint.
    """
    try:
        state = _torch_load(path)
    except (
        OSError,  # not found, not permitted ...: the error names the file itself
        DataError,
        Warning,
    ):  # a warning the caller made an error is theirs, not a bad file
        raise
    except Exception as error:  # noqa: BLE001 - the restricted unpickler fails on other files in many ways
        reason = str(error).split(". ")[0][:160]  # torch's zip reader adds a paragraph of advice
        raise ValueError(
            f"{path}: not a readable calspike checkpoint, truncated or damaged "
            f"({type(error).__name__}: {reason})"
        ) from None
    if not isinstance(state, dict) or "format" not in state:
        raise DataError(f"{path}: not a calspike checkpoint")
    if state["format"] != CHECKPOINT_FORMAT:
        raise DataError(
            f"{path}: checkpoint format {state['format']!r}; this calspike reads format "
            f"{CHECKPOINT_FORMAT} (retrain, or use the calspike that wrote it)"
        )
    stored = state.pop("checksum", None)
    if stored is None:
        raise DataError(f"{path}: the checkpoint has no checksum")
    if stored != state_digest(state):
        raise DataError(
            f"{path}: the checkpoint's contents do not match its checksum: the file is corrupt"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in state]
    if missing:
        raise DataError(f"{path}: the checkpoint lacks {', '.join(repr(k) for k in missing)}")
    _check_fields(state, path)
    return state


# what each field a checkpoint may hold must be: a checksum shows a file whole, not sane
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "model_config": dict,
    "model": dict,
    "extra": dict,
    "optimizer": dict,
    "scheduler": dict,
    "rng": dict,
    "history": list,
    "best": dict,
    "fit": dict,
    "epoch": int,
    "bad_epochs": int,
    "stopped_early": bool,
}


def _check_fields(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """DataError naming `path` for a wrong field: type, negative epochs, non-finite weights."""
    for key, kind in _FIELDS.items():
        value = state.get(key)
        wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if key in state and wrong:
            raise DataError(
                f"{path}: the checkpoint's {key!r} is {type(value).__name__}, not "
                f"{getattr(kind, '__name__', kind)}"
            )
    for key in ("epoch", "bad_epochs"):
        if state.get(key, 0) < 0:
            raise DataError(f"{path}: the checkpoint's {key!r} is negative ({state[key]})")
    best = state.get("best", {}).get("state")
    for where, weights in (("model", state["model"]), ("best", best or {})):
        if not isinstance(weights, dict):
            raise DataError(f"{path}: the checkpoint's {where!r} weights are not a dict")
        for name, tensor in weights.items():
            if not isinstance(tensor, torch.Tensor):
                raise DataError(f"{path}: the checkpoint's weight {name!r} is not a tensor")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise DataError(
                    f"{path}: the checkpoint's weight {name!r} holds NaN or infinite values "
                    "(a diverged fit?): its outputs would be NaN"
                )


def is_checkpoint(path: str | os.PathLike[str]) -> bool:
    """True for a calspike checkpoint whose contents match its checksum (of any format).

    Whether calspike may replace the file is not this: that is its record's
    (`calspike._targets.recorded_by_calspike`).
    """
    state = _torch_load(path)
    if not (isinstance(state, dict) and "format" in state and "kind" in state):
        return False
    stored = state.pop("checksum", None)
    return isinstance(stored, str) and stored == state_digest(state)


def _torch_load(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` with ``weights_only=True`` on the CPU."""
    with warnings.catch_warnings():  # torch < 2.2 warns about its own storage classes while loading
        warnings.filterwarnings("ignore", "TypedStorage is deprecated", UserWarning)
        # a plain pickle is not a checkpoint: the caller's error says so, once
        warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
        with open_input(path) as stream:
            return torch.load(stream, map_location="cpu", weights_only=True)


def load_model(path: str | os.PathLike[str]) -> CalspikeModel:
    """Load the model stored in a checkpoint, with its final (best) weights.

    Parameters
    ----------
    path : path-like
        A checkpoint written by `fit` (``checkpoint=``), `train_rate_model` or a report
        (``models/*.pt``); read with ``weights_only=True``, so no code runs.

    Returns
    -------
    CalspikeModel
        The model (e.g. a `SpikeClassifier` or `SpikeRateModel`) in eval mode on the CPU.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        Naming the file when it is not a readable calspike checkpoint.
    DataError
        When its format, checksum or contents do not make a usable model.
    """
    state = load_checkpoint(path)
    try:
        model = build_model(state["kind"], state["model_config"])
        weights = (
            state["best"]["state"]
            if (state.get("best") or {}).get("state") is not None
            else state["model"]
        )
        model.load_state_dict(weights)
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        raise DataError(
            f"{path}: the checkpoint does not hold a usable {state['kind']} "
            f"({str(error).splitlines()[0] if str(error) else type(error).__name__})"
        ) from None
    return model.eval()


def check_resumable(
    saved: dict[str, Any], model: CalspikeModel, settings: dict[str, Any], path: Path
) -> None:
    """ValueError naming `path` unless its saved run trained this model with these settings."""
    if saved["kind"] != model.kind or saved["model_config"] != model.config:
        raise ValueError(f"{path}: holds a {saved['kind']} {saved['model_config']}, not this model")
    if saved["fit"] != settings:
        changed = sorted(k for k in settings if saved["fit"].get(k) != settings[k])
        raise ValueError(
            f"{path}: was written with other fit settings ({', '.join(changed)}); cannot resume"
        )
