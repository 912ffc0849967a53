"""What a fit shows and leaves behind while it runs: progress bars and the history file."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from calspike._io import atomic_path


def progress_bar(iterable: Any, show: bool, desc: str, **kwargs: Any) -> Any:
    """A tqdm bar over `iterable` ("epoch ..." descriptions count batches), or a silent stand-in."""
    if not show:
        return Quiet(iterable)
    from tqdm.auto import tqdm

    return tqdm(
        iterable, desc=desc, unit="batch" if desc.startswith("epoch ") else "epoch", **kwargs
    )


class Quiet:
    """An iterable with tqdm's set_postfix, for runs without a progress bar."""

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Show nothing (tqdm's bar shows the latest losses here)."""


def write_history(history: list[dict[str, float]], path: str | os.PathLike[str]) -> None:
    """Write a fit history (one record per epoch) as .json or .csv, atomically."""
    target = Path(path)
    if target.suffix not in (".json", ".csv"):
        raise ValueError(f"history path must end in .json or .csv, got {target}")
    text = history_text(history, target.suffix)
    with atomic_path(target) as temporary:
        temporary.write_text(text)


def history_text(history: list[dict[str, float]], suffix: str) -> str:
    """A fit history as the text of a `suffix` (".json" or ".csv") file."""
    if suffix not in (".json", ".csv"):
        raise ValueError(f"history path must end in .json or .csv, got {suffix!r}")
    if suffix == ".json":
        return json.dumps(history, indent=1)
    columns = list(dict.fromkeys(k for record in history for k in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()
