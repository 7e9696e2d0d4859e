"""Configuration of the store: where it is (``[store] url``) and how long it keeps what (``[store.retention]``).

Kept beside ``config.py`` (which embeds :class:`StoreSettings` in ``Settings``) so that file stays
small. Retention is explained in docs/deploy.md, "Retention": raw events are kept longer than
Salesforce keeps them (that is the point of the store), rollups longer still, since they are what
the dashboard and the digest show of a pruned day.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_STORE_URL = "sqlite:///oauthwatch.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionSettings(_Strict):
    """How long the store keeps raw events and rollups; ``oauthwatch db prune`` and the service apply it."""

    raw_days: int = Field(
        400,
        ge=30,
        le=36_500,
        description="days raw events (logins, API usage, audit and security events, snapshots) are kept",
    )
    rollup_days: int = Field(
        1826, ge=30, le=36_500, description="days the hourly and daily rollups are kept (5 years)"
    )
    batch_rows: int = Field(
        5000,
        ge=100,
        le=1_000_000,
        description="rows deleted per transaction, so pruning never holds a lock long enough to block collection",
    )
    enabled: bool = Field(True, description="false: `oauthwatch run` never prunes (`db prune` still does)")

    @model_validator(mode="after")
    def _rollups_outlive_events(self) -> RetentionSettings:
        if self.rollup_days < self.raw_days:
            raise ValueError(
                f"rollup_days ({self.rollup_days}) must be at least raw_days ({self.raw_days}): the rollups "
                "are what the dashboard and the digest show of a day whose raw events were pruned; "
                "for example raw_days = 400, rollup_days = 1826"
            )
        return self


class StoreSettings(_Strict):
    """Where oauthwatch keeps what it collects, and for how long."""

    url: str = Field(
        DEFAULT_STORE_URL, description="SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://…"
    )
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
