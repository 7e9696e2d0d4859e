"""``import-csv`` under bad input and repeated data, on SQLite and PostgreSQL (issue: hardening).

Each test reproduces one finding: ApiTotalUsage counted again when the same calls arrive by a
second path, tracebacks on out-of-range dates, stray bytes, huge fields and bad zones, and one
SELECT per row. Every row read must end up imported (new or already there) or quarantined.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from collectors.imports.csv_rows import FIELD_LIMIT
from collectors.imports.importer import import_csv
from collectors.sources.event_log_files import store_file_rows
from collectors.sources.values import Malformed
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org
from tests.import_files import API_HEADER, _csv, api_file, api_rows, dl_file, elf_login_file, ui_file, write


def _requests(engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.coalesce(func.sum(schema.api_usage_hourly.c.requests), 0))).scalar_one()
        )


def _count(engine, table, **where) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(table).where(*(table.c[k] == v for k, v in where.items()))
        return int(conn.execute(q).scalar_one())


def _collect(engine, path: Path, file_id: str) -> None:
    """The collector's path for a downloaded EventLogFile."""
    with engine.begin() as conn:
        ensure_org(conn, "acme")
        store_file_rows(
            "acme", conn, file_id=file_id, event_type="ApiTotalUsage", path=path, quarantine=lambda *a: None
        )


def test_api_usage_counted_once_whatever_the_path(tmp_path: Path, store) -> None:
    """569 calls collected, then the same file imported, then a copy differing by one byte: 569."""
    f = write(tmp_path / "api.csv", api_file(569))
    _collect(store, f, "0AT000000000001AAA")
    assert _requests(store) == 569
    report = import_csv(store, "acme", f)
    assert (report.read, report.new, report.already, report.quarantined) == (569, 0, 569, 0)
    assert _requests(store) == 569
    copy = write(tmp_path / "api-copy.csv", api_file(569).replace("192.0.2.10", "192.0.2.11", 1))
    again = import_csv(store, "acme", copy)
    assert (again.new, again.already) == (0, 569)
    assert _requests(store) == 569
    assert "569 already there" in again.lines()[0]


def test_superseding_daily_file_adds_only_its_new_calls(tmp_path: Path, store) -> None:
    """A later daily file holds the earlier file's calls plus new ones: each call counts once."""
    early = write(tmp_path / "early.csv", api_file(300))
    late = write(tmp_path / "late.csv", api_file(450))
    _collect(store, early, "0AT000000000001AAA")
    _collect(store, late, "0AT000000000002AAA")
    assert _requests(store) == 450
    report = import_csv(store, "acme", late)
    assert (report.new, report.already) == (0, 450)
    assert _requests(store) == 450
    with store.connect() as conn:
        per_status = dict(
            conn.execute(
                select(
                    schema.api_usage_hourly.c.status_code, func.sum(schema.api_usage_hourly.c.requests)
                ).group_by(schema.api_usage_hourly.c.status_code)
            ).all()
        )
    assert per_status == {"200": 450 - 65, "401": 65}


@pytest.mark.parametrize("kind", ["ui", "dl", "elf_login", "elf_api"])
def test_dates_salesforce_cannot_hold_are_quarantined(tmp_path: Path, store, kind: str) -> None:
    """Years 1 and 9999 (and a bad date in the middle of a batch) do not stop the rest of the file."""
    if kind == "ui":
        text = ui_file(40)
        lines = text.splitlines()
        lines[5] = lines[5].replace(lines[5].split(",")[1], "01/01/0001 12:05 AM")
        lines[30] = lines[30].replace(lines[30].split(",")[1], "12/31/9999 11:59 PM")
    elif kind == "dl":
        lines = dl_file(40).splitlines()
        lines[5] = lines[5].replace("2026-11-29T", "0001-01-01T", 1)
        lines[30] = lines[30].replace(lines[30].split(",")[2], '"9999-12-31T23:59:59.999Z"')
    else:
        lines = (elf_login_file(40) if kind == "elf_login" else api_file(40)).splitlines()
        lines[5] = lines[5].replace(
            lines[5].split(",")[-1 if kind == "elf_api" else 5], '"0001-01-01T00:00:00.000Z"'
        )
        lines[30] = lines[30].replace(
            lines[30].split(",")[-1 if kind == "elf_api" else 5], '"9999-12-31T23:59:59.999Z"'
        )
    f = write(tmp_path / f"{kind}.csv", "\n".join(lines) + "\n")
    report = import_csv(store, "acme", f, timezone="Europe/Paris")
    assert (report.read, report.imported, report.quarantined) == (40, 38, 2), report.lines()
    assert any("outside what Salesforce can hold" in r or "out of range" in r for r in report.reasons), (
        report.reasons
    )
    if kind == "elf_api":
        assert _requests(store) == 38
    else:
        with store.connect() as conn:
            lg = schema.logins
            assert conn.execute(select(func.count()).select_from(lg)).scalar_one() == 38
            rolled = conn.execute(select(func.sum(schema.login_rollup_hourly.c.events))).scalar()
        assert rolled in (None, 38)  # elf_login is not the primary source by default


def test_stray_bytes_in_an_event_log_file(tmp_path: Path, store) -> None:
    data = elf_login_file(10).encode().replace(b"u3@example.com", b"u3\xff\xfe@example.com")
    f = tmp_path / "elf.csv"
    f.write_bytes(data)
    report = import_csv(store, "acme", f)
    assert (report.read, report.imported, report.quarantined) == (10, 10, 0)
    with store.connect() as conn:
        names = set(conn.execute(select(schema.logins.c.username)).scalars())
    assert "u3\ufffd\ufffd@example.com" in names


def test_field_over_the_reader_limit(tmp_path: Path, store) -> None:
    lines = ui_file(20).splitlines()
    lines[8] = lines[8].replace("Unknown", "X" * (FIELD_LIMIT + 10), 1)
    f = write(tmp_path / "huge.csv", "\n".join(lines) + "\n")
    report = import_csv(store, "acme", f)
    assert (report.read, report.imported, report.quarantined) == (20, 19, 1), report.lines()
    with store.connect() as conn:
        raw = conn.execute(select(func.max(func.length(schema.quarantine.c.raw)))).scalar_one()
    assert raw < 50_000  # the quarantine keeps a bounded excerpt, not the megabyte


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../etc/passwd", "", "/etc/localtime", "Europe"])
def test_bad_timezone_is_one_clear_error(tmp_path: Path, store, tz: str) -> None:
    f = write(tmp_path / "ui.csv", ui_file(3))
    with pytest.raises(Malformed, match=r"unknown time zone .*IANA name"):
        import_csv(store, "acme", f, timezone=tz)
    assert _count(store, schema.orgs) == 0  # nothing was written


def test_cli_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    ui = write(tmp_path / "ui.csv", ui_file(3))
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 40)
    for args in (
        [str(ui), "--timezone", "../etc/passwd"],
        [str(ui), "--timezone", "Nowhere/Land"],
        [str(junk)],
    ):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "oauthwatch",
                "import-csv",
                *args,
                "--org",
                "acme",
                "--create-org",
                "-c",
                str(cfg),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_one_query_per_batch_not_per_row(tmp_path: Path, store) -> None:
    """The import asks the store per batch (ids stored, rows the API delivered), never per row."""
    import_csv(store, "acme", write(tmp_path / "first.csv", dl_file(50)))
    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(store, "before_cursor_execute", listener)
    try:
        report = import_csv(store, "acme", write(tmp_path / "ui.csv", ui_file(6000)))
    finally:
        event.remove(store, "before_cursor_execute", listener)
    assert report.new == 6000
    assert len(statements) < 120, len(statements)
    with store.connect() as conn:
        rolled = conn.execute(select(func.sum(schema.login_rollup_hourly.c.events))).scalar_one()
    assert rolled == 6050  # rollups exact after one catch-up


def test_rollups_left_behind_by_a_killed_import_are_finished(tmp_path: Path, store, monkeypatch) -> None:
    import collectors.imports.writer as iw

    def boom(*_a, **_k) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(iw, "refresh_login_rollup", boom)
    with pytest.raises(RuntimeError):
        import_csv(store, "acme", write(tmp_path / "a.csv", dl_file(300)))
    monkeypatch.undo()
    assert _count(store, schema.logins) == 300
    with store.connect() as conn:
        assert conn.execute(select(func.sum(schema.login_rollup_hourly.c.events))).scalar() is None
    import_csv(store, "acme", write(tmp_path / "other.csv", _csv(API_HEADER, api_rows(3))))
    with store.connect() as conn:
        assert conn.execute(select(func.sum(schema.login_rollup_hourly.c.events))).scalar_one() == 300
