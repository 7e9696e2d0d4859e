"""The progress bar of ``oauthwatch import-csv``: bytes read of the file, rate and time left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def import_progress(file: Path, *, force: bool = False) -> tuple[Any, Callable[[int, int], None]]:
    """A rich progress bar on stderr over the file's bytes (stdout keeps the summary alone).

    The caller decides when to show one (a terminal, or ``--progress``, which ``force``-s it onto a
    stderr that is not a terminal); returns the bar, to stop, and the callback the importer calls
    with ``(bytes read, bytes total)``.
    """
    from rich.console import Console
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
        console=Console(stderr=True, force_terminal=force or None),
        transient=True,
    )
    task = bar.add_task("import", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update
