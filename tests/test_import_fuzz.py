"""Fuzzing ``oauthwatch import-csv``: whatever the file, an answer, never a traceback.

Seeded, so every run tries the same files: random bytes, random CSV shapes under every header
variant the importer recognises (and some it does not), huge fields, stray encodings, dates
Salesforce cannot hold. For each file the command must exit 0 or 2 without a traceback, account
for every row it read (quarantined + imported = read), store exactly what it says is new, and a
second import of the same file must add nothing.
"""

from __future__ import annotations

import contextlib
import functools
import io
import random
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from collectors.imports.csv_rows import FIELD_LIMIT
from oauthwatch.store import schema
from tests.import_files import (
    API_HEADER,
    DL_HEADER,
    LOGIN_HEADER,
    UI_HEADER,
    api_rows,
    dl_rows,
    elf_login_rows,
    ui_rows,
)

SEED = 20261207
CASES = 36
SUMMARY = re.compile(r"read (\d+) rows: imported (\d+) \((\d+) new, (\d+) already there\), quarantined (\d+)")
ODD_VALUES = ["", " ", '"', '""', ",", "\n", "\r\n", "\x00", "N/A", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
              "12/31/9999 11:59 PM", "01/01/0001 12:00 AM", "2026-02-30T10:00:00Z", "-1", "1e309", "ünïcødé ☃",
              "<img src=x onerror=alert(7)>", "=cmd|' /C calc'!A0", "\ufeff", "\ud7ff", "LOGIN_NO_ERROR", "Login",
              "ApiTotalUsage", "Logout", "25:61", "13/13/2026 1:00 PM"]  # fmt: skip


def _header_variant(rnd: random.Random, header: list[str]) -> list[str]:
    h = list(header)
    style = rnd.randrange(6)
    if style == 1:
        h = [x.lower() for x in h]
    elif style == 2:
        rnd.shuffle(h)
    elif style == 3:
        h = h + [f"Extra {i}" for i in range(rnd.randrange(1, 4))]
    elif style == 4:
        h = [f" {x} " for x in h]
    elif style == 5:
        h = rnd.sample(h, rnd.randrange(1, len(h) + 1))
    return h


def _value(rnd: random.Random, good: str, huge: bool) -> str:
    roll = rnd.random()
    if huge and roll < 0.004:
        return "H" * (FIELD_LIMIT + rnd.randrange(-5, 500))
    if roll < 0.75:
        return good
    if roll < 0.9:
        return rnd.choice(ODD_VALUES)
    return "".join(chr(rnd.randrange(1, 0x3000)) for _ in range(rnd.randrange(1, 30)))


def _csv_case(rnd: random.Random) -> bytes:
    kind = rnd.randrange(5)
    n = rnd.randrange(0, 120)
    header, rows = [
        (UI_HEADER, ui_rows(n)),
        (DL_HEADER, dl_rows(n)),
        (LOGIN_HEADER, elf_login_rows(n)),
        (API_HEADER, api_rows(n)),
        (["foo", "bar", "baz"], [[str(i), "x", "y"] for i in range(n)]),
    ][kind]
    shown = _header_variant(rnd, header)
    huge = rnd.random() < 0.25
    out = io.StringIO()
    sep = "\r\n" if rnd.random() < 0.3 else "\n"
    out.write(",".join(f'"{h}"' if rnd.random() < 0.5 else h for h in shown) + sep)
    for row in rows:
        by_name = dict(zip(header, row, strict=True))
        values = [_value(rnd, by_name.get(h.strip(), ""), huge) for h in shown]
        if rnd.random() < 0.08:
            values = values[: rnd.randrange(0, len(values) + 1)]
        if rnd.random() < 0.05:
            values += ["extra"] * rnd.randrange(1, 4)
        cells = []
        for v in values:
            if rnd.random() < 0.1:
                cells.append(v)  # unquoted: separators and quotes inside break the shape
            else:
                cells.append('"' + v.replace('"', '""') + '"')
        out.write(",".join(cells) + sep)
        if rnd.random() < 0.03:
            out.write(sep)  # a blank line is not a row
    text = out.getvalue()
    enc = rnd.random()
    if enc < 0.1:
        return text.encode("latin-1", errors="replace")
    if enc < 0.15:
        return text.encode("utf-16")
    data = ("\ufeff" if enc < 0.25 else "") + text
    raw = data.encode("utf-8", errors="surrogatepass")
    if rnd.random() < 0.1 and raw:
        at = rnd.randrange(len(raw))
        raw = raw[:at] + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8))) + raw[at:]
    return raw


def cases() -> list[bytes]:
    rnd = random.Random(SEED)
    out = []
    for i in range(CASES):
        if i % 6 == 0:
            out.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 6000))))
        else:
            out.append(_csv_case(rnd))
    return out


@functools.cache
def _app() -> Any:
    from oauthwatch.cli.main import app

    return app


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``oauthwatch …`` in this process (a traceback would surface here as an exception)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            _app()(args, prog_name="oauthwatch")
    except SystemExit as exc:
        code = exc.code
    return int(code or 0), stdout.getvalue(), stderr.getvalue()


def _stored(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (schema.logins, schema.api_usage_events, schema.quarantine)
        )


def test_fuzz_import_csv(tmp_path: Path, store, store_url: str) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "{store_url}"\n')
    seen: set[str] = set()
    for i, data in enumerate(cases()):
        f = tmp_path / f"case{i}.csv"
        f.write_bytes(data)
        args = ["import-csv", str(f), "--org", "acme", "--create-org", "-c", str(cfg)]
        before = _stored(store)
        code, out, err = run_cli(args)
        assert code in (0, 2), (i, code, out, err)
        assert "Traceback" not in out + err, (i, err)
        m = SUMMARY.search(out)
        if m is None:  # the file as a whole was refused: one line saying why, nothing stored
            assert code == 2, (i, out, err)
            assert err.strip(), (i, out)
            assert len(err.strip().splitlines()) == 1, (i, err)
            assert _stored(store)[:2] == before[:2], i
            seen.add("refused")
            continue
        seen.add(out.split(":", 1)[0])
        seen.update(["quarantined"] if int(m.group(5)) else [])
        read, imported, new, _already, quarantined = map(int, m.groups())
        assert quarantined + imported == read, (i, out)
        assert code == (2 if quarantined else 0), (i, code, out)
        after = _stored(store)
        assert after[0] + after[1] - before[0] - before[1] == new, (i, out)
        code2, out2, _ = run_cli(args)
        m2 = SUMMARY.search(out2)
        assert m2 is not None, (i, out2)
        assert code2 == code, (i, out2)
        assert (int(m2.group(1)), int(m2.group(3))) == (read, 0), (i, out2)
        assert _stored(store) == after, (i, "a second import changed the store")

    # the seeded files reach every kind, refusals and quarantines (else the fuzz tests nothing)
    assert {"refused", "quarantined", "Setup Login History download", "Login History export (API names)",
            "Event Log File (Login)", "Event Log File (ApiTotalUsage)"} <= seen, seen  # fmt: skip
