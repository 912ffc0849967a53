"""A checksum over a checkpoint's contents (tensors, numbers, strings, nested containers).

Stored in the checkpoint beside its payload and checked on load, so a flipped byte in the
weights or the optimiser state is an error naming the file, not a silently wrong model.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def state_digest(value: Any) -> str:
    """SHA-256 (hex) of `value`: every tensor's dtype, shape and bytes, every key and scalar, in order."""
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
