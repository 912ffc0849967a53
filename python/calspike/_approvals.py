"""What calspike checked before its work, so that it can check it again at the rename.

An output's place is checked before any data is read (`calspike._targets`), and the work
can take hours: a file put there, or edited, meanwhile must not be replaced.
`calspike._io.atomic_path` replaces a path that was `approve`d only in its approved state.
"""

from __future__ import annotations

import os
from pathlib import Path


def file_state(path: Path) -> tuple[int, ...] | None:
    """What tells a file at `path` replaced or edited: inode, size, times; None when absent."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


# absolute path -> the state it may be replaced in
_approved: dict[str, tuple[int, ...] | None] = {}


def approve(target: Path) -> None:
    """Remember `target` as checked: `calspike._io.atomic_path` replaces it only in this state.

    So a file put there, or edited, while calspike worked is not replaced; each replacement
    by calspike moves the approved state along (a checkpoint rewritten every epoch).
    """
    _approved[os.path.abspath(target)] = file_state(target)


def approved_state(target: Path) -> tuple[bool, tuple[int, ...] | None]:
    """(whether `target` was approved, the state it was approved in)."""
    key = os.path.abspath(target)
    return key in _approved, _approved.get(key)
