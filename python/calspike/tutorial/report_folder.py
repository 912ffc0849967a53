"""The report folder of `calspike run`: where it may go, and the files written last.

Kept apart from the steps, so that the command line checks the folder without loading the
models' libraries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from calspike._targets import check_folder_target, check_not_input
from calspike.tutorial.html import page


def check_report_target(target: Path, data: str | os.PathLike[str] | None) -> None:
    """UsageError unless `target` may take the report.

    New, empty or an earlier report, and apart from `data`.
    """
    check_folder_target(target, "report folder", "report")
    if data is not None:
        check_not_input([target], [Path(data)], "report folder")


def write_report(folder: Path, metrics: dict[str, Any], settings: dict[str, Any]) -> None:
    """metrics.json, config.json (the run's settings) and index.html, in `folder`.

    The figures must be in folder/figures already: the page embeds them.
    """
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "config.json").write_text(json.dumps(settings, indent=2))
    (folder / "index.html").write_text(page(folder, metrics, settings))
