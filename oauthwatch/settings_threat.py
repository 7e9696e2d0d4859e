"""Configuration of the stolen-token features: saved IOC lists (``[[hunt.lists]]``).

Kept beside ``config.py`` (which embeds these models in ``Settings``) so that file stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HuntList(_Strict):
    """A saved IOC list, matched against each new batch of events; a hit raises an alert."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    file: Path = Field(description="the IOC file (relative paths are read from the configuration's folder)")
    severity: Literal["info", "low", "medium", "high", "critical"] = "high"
    enabled: bool = True


class HuntSettings(_Strict):
    """IOC hunting."""

    lists: list[HuntList] = Field(default_factory=list)

    @field_validator("lists")
    @classmethod
    def _unique(cls, v: list[HuntList]) -> list[HuntList]:
        names = [x.name for x in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"hunt list names must be unique; repeated: {dupes}")
        return v


class ResponseSettings(_Strict):
    """Actions oauthwatch may take in the org (off by default: monitoring reads, it does not write)."""

    allow_revoke: bool = Field(
        False,
        description="let `oauthwatch revoke` and the dashboard revoke OAuth grants (dry runs always work)",
    )
