"""Where ``import-csv`` rows go: batched, counted as new or already there, rollups caught up once.

Rows are committed a batch at a time. Each batch asks once which of its rows are stored already
(one ``IN (…)`` query, never a SELECT per row) and inserts the rest, ignoring conflicts. Rollups
are not refreshed per batch (that re-aggregated whole days a hundred times in a big file): the
days a batch touched are written, with the batch, into the ``import_csv`` checkpoint as behind,
and recomputed every :data:`ROLLUP_EVERY` rows and at the end. An import killed midway leaves that
note, and the next import of the org finishes the job first, so rollups are never left wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from collectors.run import ledger
from oauthwatch.store import schema
from oauthwatch.store.api_usage import refresh_api_usage, store_api_events
from oauthwatch.store.inserts import split_new
from oauthwatch.store.upsert import upsert
from oauthwatch.store.writes import refresh_login_rollup, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SOURCE = "import_csv"
BATCH = 5_000
ROLLUP_EVERY = 250_000
API_USAGE = "api_usage"  # the pseudo-source whose rollup is api_usage_hourly
_REASONS_KEPT = 12


@dataclass
class ImportReport:
    """What an import did: every row read is either imported (new or already there) or quarantined."""

    kind: str
    read: int = 0
    new: int = 0
    already: int = 0
    via_api: int = 0
    quarantined: int = 0
    requarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def imported(self) -> int:
        return self.new + self.already

    def note_bad(self, reason: str, fresh: bool) -> None:
        self.quarantined += 1
        self.requarantined += not fresh
        key = reason.split(" (line ")[0].split(": ")[0][:80]
        if key in self.reasons or len(self.reasons) < _REASONS_KEPT:
            self.reasons[key] += 1
        else:
            self.reasons["other reasons"] += 1

    def lines(self) -> list[str]:
        out = [
            f"{self.kind}: read {self.read} rows: imported {self.imported} "
            f"({self.new} new, {self.already} already there), quarantined {self.quarantined}"
        ]
        if self.via_api:
            out.append(f"  {self.via_api} of the rows already there had been collected through the API")
        if self.quarantined:
            again = f", {self.requarantined} of them by an earlier import" if self.requarantined else ""
            out.append(f"  quarantined with their reasons (`oauthwatch status` counts them){again}:")
            out += [f"    {n} × {why}" for why, n in self.reasons.most_common()]
        return out


def _days_of(times: list[datetime]) -> set[date]:
    return {t.astimezone(UTC).date() for t in times}


def _hours_of(days: set[date]) -> list[datetime]:
    return [
        datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=h)
        for d in sorted(days)
        for h in range(24)
    ]


class ImportWriter:
    """Stores one file's rows into ``org``: logins (one source) or ApiTotalUsage calls."""

    def __init__(
        self,
        engine: Engine,
        org: str,
        report: ImportReport,
        *,
        target: str,
        rollup: bool,
        skip: Callable[[Connection, list[dict[str, Any]]], list[bool]] | None = None,
    ) -> None:
        self.engine, self.org, self.report = engine, org, report
        self.target, self.rollup, self.skip = target, rollup, skip
        self.rows: list[dict[str, Any]] = []
        self.bad: list[tuple[str, Any, str | None]] = []
        self.behind: set[date] = set()
        self.since_rollup = 0
        self.span: tuple[datetime, datetime] | None = None  # first and last login time read
        self.span_rows = 0
        catch_up(engine, org)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) + len(self.bad) >= BATCH:
            self.flush()

    def reject(self, reason: str, raw: Any, natural_id: str | None = None) -> None:
        self.bad.append((reason, raw, natural_id))
        if len(self.rows) + len(self.bad) >= BATCH:
            self.flush()

    def flush(self) -> None:
        rows, bad = self.rows, self.bad
        self.rows, self.bad = [], []
        if not rows and not bad:
            return
        with self.engine.begin() as conn:
            for reason, raw, nid in bad:
                self.report.note_bad(reason, ledger.quarantine(conn, self.org, SOURCE, reason, raw, nid))
            if rows:
                self._store(conn, rows)
                days = _days_of([r["event_time" if self.target == API_USAGE else "login_time"] for r in rows])
                if self.rollup and not days <= self.behind:
                    self.behind |= days
                    _mark_behind(conn, self.org, self.target, self.behind)
        self.since_rollup += len(rows)
        if self.since_rollup >= ROLLUP_EVERY:
            self.catch_up()

    def _store(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        report = self.report
        if self.target == API_USAGE:
            new, already = store_api_events(conn, self.org, rows)
            report.new += new
            report.already += already
            return
        times = [r["login_time"] for r in rows]
        lo, hi = min(times), max(times)
        self.span = (min(lo, self.span[0]), max(hi, self.span[1])) if self.span else (lo, hi)
        self.span_rows += len(rows)
        if self.skip is not None:
            skipped = self.skip(conn, rows)
            kept = [r for r, s in zip(rows, skipped, strict=True) if not s]
            report.via_api += len(rows) - len(kept)
            report.already += len(rows) - len(kept)
            rows = kept
        lg = schema.logins
        fresh, already = split_new(
            conn, lg, "natural_id", [lg.c.org == self.org, lg.c.source == self.target], rows
        )
        upsert(conn, lg, fresh, key=["org", "source", "natural_id"], update=[])
        report.new += len(fresh)
        report.already += already

    def catch_up(self) -> None:
        """Recompute the rollups of the days written since the last catch-up, and clear the note."""
        self.since_rollup = 0
        if not self.behind:
            return
        with self.engine.begin() as conn:
            _refresh(conn, self.org, self.target, self.behind)
            _mark_behind(conn, self.org, self.target, set())
        self.behind = set()

    def finish(self) -> None:
        self.flush()
        self.catch_up()
        if self.span is not None and self.target != API_USAGE:
            # The file is the export of this span: detection may judge its hours (and only them).
            with self.engine.begin() as conn:
                conn.execute(
                    insert(schema.login_import_spans).values(
                        org=self.org,
                        source=self.target,
                        span_start=self.span[0],
                        span_end=self.span[1],
                        rows=self.span_rows,
                        imported_at=utcnow(),
                    )
                )


def _refresh(conn: Connection, org: str, target: str, days: set[date]) -> None:
    if target == API_USAGE:
        refresh_api_usage(conn, org, _hours_of(days))
    else:
        refresh_login_rollup(conn, org, target, _hours_of(days))


def _mark_behind(conn: Connection, org: str, target: str, days: set[date]) -> None:
    cursor = dict(ledger.load_checkpoint(conn, org, SOURCE) or {})
    behind = dict(cursor.get("rollup_behind") or {})
    if days:
        behind[target] = sorted(d.isoformat() for d in days)
    else:
        behind.pop(target, None)
    cursor["rollup_behind"] = behind
    ledger.save_checkpoint(conn, org, SOURCE, cursor)


def catch_up(engine: Engine, org: str) -> None:
    """Finish the rollups an earlier import of ``org`` left behind (it was killed midway)."""
    with engine.connect() as conn:
        cursor = ledger.load_checkpoint(conn, org, SOURCE) or {}
    for target, days in (cursor.get("rollup_behind") or {}).items():
        with engine.begin() as conn:
            _refresh(conn, org, target, {date.fromisoformat(d) for d in days})
            _mark_behind(conn, org, target, set())
