"""The state every request handler of the local org shares: ``OrgContext``.

One context is one org (one SQLite file); a process serves one org, or several on distinct ports
(``oauthwatch simulate --orgs N``, :mod:`oauthwatch.simulator.serve_many`), one context each. Handlers are ``async`` but do their SQLite work on
the event loop's thread with one shared connection: requests are short, SQLite answers in
microseconds, and a single writer keeps the API counter and token table free of races. Long
streams (query pages, event log files, Bulk results) are produced by the query layer, which the
context creates once so every worker thread sees the same locators.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from oauthwatch.simulator.api.calls import Call, new_log
from oauthwatch.simulator.api.paging import PagePipeline
from oauthwatch.simulator.data import clock, orgdb, sessions
from oauthwatch.simulator.soql.service import QueryService

if TYPE_CHECKING:
    from oauthwatch.simulator.api.faults import Faults


@dataclass
class OrgContext:
    """Everything a request handler needs: the org database, its URLs and its run-time settings."""

    state_dir: Path
    port: int
    token_ttl_s: int = 7200
    api_limit: int = 15000
    licensed: bool = False
    event_monitoring: bool = field(init=False, default=True)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    faults: Faults | None = None
    conn: sqlite3.Connection = field(init=False)
    org_id: str = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)
    query: QueryService = field(init=False)
    pages: PagePipeline = field(init=False)
    calls: deque[Call] = field(default_factory=new_log)

    def __post_init__(self) -> None:
        self.conn = orgdb.connect(self.db_path)
        self._clock_conn = orgdb.connect(self.db_path, readonly=True)
        self._clock_lock = threading.Lock()
        self.org_id = sessions.org_id(self.conn)
        built = self.state_get("licensed")
        if built is not None:  # the database decides: licensed objects exist only if it was built so
            self.licensed = built == "1"
        # created here, not lazily: worker threads must all see the same locators
        # Event Monitoring: on unless ``simulate --no-event-monitoring`` took it away (data.eventlog)
        self.event_monitoring = self.state_get("event_monitoring") != "0"
        self.query = QueryService(
            self.db_path,
            licensed=self.licensed,
            now_ms=self.org_now_ms,
            event_monitoring=self.event_monitoring,
        )
        self.pages = PagePipeline(lambda: self.query)

    @property
    def db_path(self) -> Path:
        """The org's SQLite file."""
        return orgdb.db_path(self.state_dir)

    @property
    def base_url(self) -> str:
        """The org's My Domain URL (login URL and instance URL are the same host)."""
        return f"https://127.0.0.1:{self.port}"

    def identity_url(self, user_id: str) -> str:
        """The ``id`` of a token response: ``<login>/id/<orgId>/<userId>``."""
        return f"{self.base_url}/id/{self.org_id}/{user_id}"

    def org_now_ms(self) -> int:
        """The org's clock (wall time plus the ``_State`` offset), safe from any thread."""
        with self._clock_lock:
            return clock.org_now_ms(self._clock_conn)

    def state_get(self, key: str) -> str | None:
        """A value from the org's ``_State`` table."""
        row = self.conn.execute("SELECT Value FROM _State WHERE Key = ?", (key,)).fetchone()
        return row[0] if row else None

    def state_set(self, key: str, value: str | None) -> None:
        """Write (or clear, with None) a ``_State`` value."""
        if value is None:
            self.conn.execute("DELETE FROM _State WHERE Key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT INTO _State (Key, Value) VALUES (?, ?) ON CONFLICT(Key) DO UPDATE SET Value = excluded.Value",
                (key, value),
            )
        self.conn.commit()
