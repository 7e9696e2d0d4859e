"""The progress bar of ``oauthwatch import-csv``: bytes read of the file, rate and time left."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def import_progress(file: Path) -> tuple[Any, Callable[[int, int], None] | None]:
    """A rich progress bar over the file's bytes on a terminal; ``(None, None)`` when not a terminal."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn(f"importing {file.name}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = bar.add_task("import", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update
