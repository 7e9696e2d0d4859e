"""One module per source, each a declaration; :mod:`collectors.sources.registry` lists them in run order."""

from __future__ import annotations

from collectors.sources.base import Source
from collectors.sources.registry import SOURCE_NAMES, SOURCES

__all__ = ["SOURCES", "SOURCE_NAMES", "Source"]
