"""An in-process org for collector unit tests: the local org's real SOQL engine, no HTTP.

:class:`OrgDbClient` has the interface of :class:`collectors.api.client.SalesforceClient` but answers
from :class:`oauthwatch.simulator.soql.service.QueryService` over an org database the test fills, so
filters, ORDER BY, batch sizes, OauthToken's 2,500 cap and query locators behave as on the local
org. The HTTPS path (retries, re-auth, budget headers) is exercised by the exactness test
against the real server; these tests pin the sources' logic. tests/test_orgdb_harness.py checks
the harness itself (a harness that lies would make every other test worthless).
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.api.budget import BudgetGovernor
from collectors.api.client import ObjectNotAvailable, Page, QueryLocatorExpired, SalesforceCallError
from collectors.run.runner import collect_once
from oauthwatch.config import Settings
from oauthwatch.simulator.data import orgdb
from oauthwatch.simulator.soql.parser import SoqlError
from oauthwatch.simulator.soql.service import QueryService

BASE = datetime(2026, 11, 1, tzinfo=UTC)
APPS = ["Data Loader", "Mobile", "Integration A", "Portal"]


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class _Token:
    org_id = "00D000000000001AAA"
    instance_url = "https://org.example"


class _Provider:
    def token(self) -> _Token:
        return _Token()


class OrgDbClient:
    """SalesforceClient's interface over an org database (see the module docstring)."""

    def __init__(
        self,
        db: Path,
        *,
        licensed: bool = False,
        event_monitoring: bool = True,
        blobs: dict[str, bytes] | None = None,
        metadata: list[dict[str, Any]] | None = None,
        expire_at_pages: set[int] | None = None,
    ) -> None:
        self.svc = QueryService(
            db, licensed=licensed, now_ms=lambda: ms(datetime.now(UTC)), event_monitoring=event_monitoring
        )
        self.event_monitoring = event_monitoring
        self.described: list[str] = []
        self.budget = BudgetGovernor()
        self.provider = _Provider()
        self.blobs = blobs or {}
        self.metadata = metadata
        self.expire_at_pages = expire_at_pages or set()
        self.pages_served = 0
        self.soql: list[str] = []

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        self.budget.check()
        self.budget.charge()
        try:
            return fn(*args, **kw)
        except SoqlError as exc:
            if exc.error_code == "INVALID_TYPE":
                raise ObjectNotAvailable(exc.error_code, exc.message, 400) from exc
            if exc.error_code == "INVALID_QUERY_LOCATOR":
                raise QueryLocatorExpired(exc.error_code, exc.message, 400) from exc
            raise SalesforceCallError(exc.error_code, exc.message, exc.status) from exc

    def query_pages(self, soql: str, *, batch_size: int = 2000, all_rows: bool = False):
        self.soql.append(soql)
        body = self._call(self.svc.run, soql, batch_size=batch_size)
        while True:
            yield Page(body["records"], body["totalSize"], body["done"])
            if body["done"]:
                return
            self.pages_served += 1
            if self.pages_served in self.expire_at_pages:
                self.svc.expire_locators()
            body = self._call(self.svc.more, body["nextRecordsUrl"].rsplit("/", 1)[1])

    def query(self, soql: str, **kw: Any):
        for page in self.query_pages(soql, **kw):
            yield from page.records

    def count(self, soql: str) -> int:
        return next(self.query_pages(soql)).total_size

    def describe(self, sobject: str) -> dict[str, Any]:
        from oauthwatch.simulator.data import catalog, eventlog

        self.budget.charge()
        self.described.append(sobject)
        obj = catalog.get(sobject)
        if obj is None:
            raise ObjectNotAvailable("NOT_FOUND", f"no {sobject}", 404)
        em = self.event_monitoring
        fields = [
            {"name": f.name, "label": f.name,
             "picklistValues": [{"value": v, "active": True} for v in eventlog.picklist(obj.name, f.name, em)]}
            for f in obj.fields
            if catalog.has_field(obj, f.name, event_monitoring=em)
        ]  # fmt: skip
        return {"name": obj.name, "fields": fields}

    def limits(self) -> dict[str, Any]:
        self.budget.charge()
        return {
            "DailyApiRequests": {"Max": 15000, "Remaining": 14000, "oauthwatch": {"Max": 0, "Remaining": 0}},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        }

    def download(self, relative_url: str, dest: Path, *, expected_size: int | None = None) -> int:
        self.budget.charge()
        data = self.blobs[relative_url.rstrip("/").split("/")[-2]]
        dest.write_bytes(data)
        return len(data)

    def bulk_query_csv(self, soql: str, dest_dir: Path, **_: Any):
        import csv

        cols = self.svc.columns(soql)
        dest = dest_dir / "bulk-1.csv"
        with dest.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for rec in self.svc.iter_records(soql):
                w.writerow(["" if (v := _path(rec, c)) is None else v for c in cols])
        self.budget.charge(3)
        yield dest

    def bulk_get(self, path: str) -> Any:
        """Bulk job listings and a job's own resource, from the org database's staged jobs, as the
        local org answers them (:mod:`oauthwatch.simulator.data.staged`)."""
        from oauthwatch.simulator.data import staged

        self.budget.charge()
        now = ms(datetime.now(UTC))
        conn = sqlite3.connect(self.svc.db_path)
        try:
            kind, _, job_id = path.partition("?")[0].partition("/")
            if job_id:
                row = staged.find_job(conn, job_id, now)
                if row is None:
                    raise SalesforceCallError("NOT_FOUND", "The requested resource does not exist", 404)
                return staged.job_info(row, now, detail=True)
            rows = staged.visible_jobs(conn, now, ingest=kind == "ingest")
            return {
                "done": True,
                "records": [staged.job_info(r, now, detail=False) for r in rows],
                "nextRecordsUrl": None,
            }
        finally:
            conn.close()

    def list_metadata(self, metadata_type: str) -> list[Any]:
        if self.metadata is None:
            raise SalesforceCallError("INSUFFICIENT_ACCESS", "no Metadata API access")
        mine = [m for m in self.metadata if m.get("_type", "ConnectedApp") == metadata_type]
        return [{"fullName": m["fullName"], "id": m.get("_id")} for m in mine]

    def read_metadata(self, metadata_type: str, names: list[str]) -> list[Any]:
        assert self.metadata is not None
        return [
            m
            for m in self.metadata
            if m.get("_type", "ConnectedApp") == metadata_type and m["fullName"] in names
        ]


def _path(rec: dict[str, Any], path: str) -> Any:
    cur: Any = rec
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


ELF_LOGIN_HEADER = (
    "EVENT_TYPE,TIMESTAMP,REQUEST_ID,ORGANIZATION_ID,USER_ID,USER_NAME,LOGIN_STATUS,LOGIN_TYPE,"
    "LOGIN_SUB_TYPE,SOURCE_IP,TIMESTAMP_DERIVED,USER_ID_DERIVED,API_TYPE,BROWSER_TYPE"
)
ELF_API_HEADER = (
    "EVENT_TYPE,TIMESTAMP,REQUEST_ID,ORGANIZATION_ID,USER_ID,API_FAMILY,CLIENT_NAME,CONNECTED_APP_ID,"
    "CONNECTED_APP_NAME,STATUS_CODE,TIMESTAMP_DERIVED"
)


def _bulk_jobs(conn: sqlite3.Connection) -> None:
    """Bulk jobs of the last hours (listings show a job for seven days): three query jobs, one of
    them still running, one deleted, and an ingest job."""
    from oauthwatch.simulator.data import staged

    now = ms(datetime.now(UTC))
    user = "005000000000001AAA"
    staged.stage(conn, [], [
        staged.BulkJob("750000000000001AAA", "query", "Account", user, now - 3_600_000, now - 3_500_000, 48_210),
        staged.BulkJob("750000000000002AAA", "query", "Contact", user, now - 1_800_000, now + 3_600_000, 0),
        staged.BulkJob("750000000000003AAA", "query", "Lead", user, now - 900_000, now - 800_000, 77, deleted_ms=now - 700_000),
        staged.BulkJob("750000000000004AAA", "insert", "Case", user, now - 600_000, now - 500_000, 10, job_type="V2Ingest"),
    ])  # fmt: skip


def build_org(
    tmp: Path,
    *,
    logins: int = 1200,
    users: int = 60,
    tokens_per_user: int = 50,
    licensed: bool = True,
    seed: int = 3,
    malformed: bool = True,
) -> tuple[Path, dict[str, bytes], list[dict[str, Any]]]:
    """A small org database with every object the sources read; returns (db, ELF blobs, metadata)."""
    rnd = random.Random(seed)
    db = tmp / "org.sqlite3"
    conn = sqlite3.connect(db)
    orgdb.create_schema(conn, licensed=licensed)
    conn.execute("INSERT INTO Profile (Id, Name) VALUES ('00e000000000001AAA', 'System Administrator')")
    conn.execute(
        "INSERT INTO PermissionSet (Id, Name, Label, IsOwnedByProfile, ProfileId) VALUES "
        "('0PS000000000001AAA', 'X00Ex', 'Admin', 1, '00e000000000001AAA'),"
        "('0PS000000000002AAA', 'Integration', 'Integration', 0, NULL)"
    )
    uids = [f"005{i:012d}AAA" for i in range(users)]
    conn.executemany(
        'INSERT INTO "User" (Id, Username, Name, Email, IsActive, UserType, ProfileId) VALUES (?,?,?,?,?,?,?)',
        [
            (u, f"u{i}@example.com", f"User {i}", f"u{i}@example.com", 1, "Standard", "00e000000000001AAA")
            for i, u in enumerate(uids)
        ],
    )
    geo = [
        (f"04F{i:012d}AAA", "Paris", "France", "FR", 48.85, 2.35, ms(BASE), "75001", "IDF") for i in range(3)
    ]
    conn.executemany(
        "INSERT INTO LoginGeo (Id, City, Country, CountryIso, Latitude, Longitude, LoginTime, PostalCode,"
        " Subdivision) VALUES (?,?,?,?,?,?,?,?,?)",
        geo,
    )
    rows = []
    for i in range(logins):
        # every 7th login shares its timestamp with the previous one: ties must not be skipped
        t = BASE + timedelta(seconds=(i - (i % 7 == 0)) * 97)
        status = "Success" if i % 5 else "Invalid Password"
        rows.append(
            (
                f"0Ya{i:012d}AAA",
                rnd.choice(uids),
                ms(t),
                "Remote Access 2.0",
                "OAuth Refresh Token",
                f"192.0.2.{i % 250}",
                "login.salesforce.com",
                status,
                rnd.choice(APPS),
                "Unknown",
                "Unknown",
                None,
                None,
                None,
                "FR",
                geo[i % 3][0],
                "TLS 1.2",
                "ECDHE-RSA-AES256-GCM-SHA384",
            )
        )
    conn.executemany(
        "INSERT INTO LoginHistory (Id, UserId, LoginTime, LoginType, LoginSubType, SourceIp, LoginUrl, Status, "
        "Application, Browser, Platform, ClientVersion, ApiType, ApiVersion, CountryIso, LoginGeoId, TlsProtocol, "
        "CipherSuite) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    toks = []
    for u in uids:
        for j in range(tokens_per_user):
            toks.append(
                (
                    u,
                    APPS[j % len(APPS)] + ("" if j < 4 else f" {j}"),
                    ms(BASE - timedelta(days=j)),
                    ms(BASE + timedelta(hours=j)),
                    j * 3,
                    f"DELETE-{u}-{j}",
                    None,
                )
            )
    conn.executemany(
        "INSERT INTO OauthToken (UserId, AppName, CreatedDate, LastUsedDate, UseCount, DeleteToken, "
        "AppMenuItemId) VALUES (?,?,?,?,?,?,?)",
        toks,
    )
    apps = [(f"0H4{i:012d}AAA", name, ms(BASE), 1 if i % 2 else 0) for i, name in enumerate(APPS)]
    conn.executemany(
        "INSERT INTO ConnectedApplication (Id, Name, CreatedDate, OptionsAllowAdminApprovedUsersOnly) "
        "VALUES (?,?,?,?)",
        apps,
    )
    conn.executemany(
        "INSERT INTO SetupEntityAccess (Id, ParentId, SetupEntityId, SetupEntityType) VALUES (?,?,?,?)",
        [
            ("0J0000000000001AAA", "0PS000000000001AAA", apps[1][0], "ConnectedApplication"),
            ("0J0000000000002AAA", "0PS000000000002AAA", apps[1][0], "ConnectedApplication"),
            ("0J0000000000003AAA", "0PS000000000002AAA", "01p000000000001AAA", "ApexClass"),
        ],
    )
    audit = []
    for i in range(40):
        section = ["Connected Apps", "Manage Users", "Company Profile", "Permission Sets"][i % 4]
        action = ["changedConnectedAppAttribute", "PermSetAssign", "changedCompanyName", "PermSetCreate"][
            i % 4
        ]
        audit.append(
            (f"0Ym{i:012d}AAA", action, section, ms(BASE + timedelta(hours=i)), uids[0], f"{action} #{i}")
        )
    conn.executemany(
        "INSERT INTO SetupAuditTrail (Id, Action, Section, CreatedDate, CreatedById, Display) "
        "VALUES (?,?,?,?,?,?)",
        audit,
    )
    blobs: dict[str, bytes] = {}
    files = []
    for d in range(3):
        day = BASE + timedelta(days=d)
        fid, aid = f"0AT{d:012d}AAA", f"0AT{d + 100:012d}AAA"
        lines = [ELF_LOGIN_HEADER]
        for k in range(20):
            t = day + timedelta(minutes=k * 30)
            stamp = t.strftime("%Y%m%d%H%M%S.000")
            lines.append(
                ",".join(
                    f'"{v}"'
                    for v in (
                        "Login",
                        stamp,
                        f"REQ{d}-{k}",
                        "00D000000000001",
                        uids[k % users][:15],
                        f"u{k}@example.com",
                        "LOGIN_NO_ERROR" if k % 4 else "LOGIN_ERROR_INVALID_PASSWORD",
                        "i",
                        "oauthtoken",
                        "192.0.2.7",
                        t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        uids[k % users],
                        "f",
                        "Unknown",
                    )
                )
            )
        if malformed and d == 1:
            lines.append(
                '"Login","garbage","REQ-BAD","00D","005","x","LOGIN_NO_ERROR","i","","1.2.3.4","not a time","005","",""'
            )
        blobs[fid] = ("\n".join(lines) + "\n").encode()
        api = [ELF_API_HEADER]
        for k in range(30):
            t = day + timedelta(minutes=k * 20)
            api.append(
                ",".join(
                    f'"{v}"'
                    for v in (
                        "ApiTotalUsage",
                        t.strftime("%Y%m%d%H%M%S.000"),
                        f"A{d}-{k}",
                        "00D000000000001",
                        uids[0][:15],
                        "REST",
                        "DataLoader",
                        apps[k % 2][0],
                        APPS[k % 2],
                        "200",
                        t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    )
                )
            )
        blobs[aid] = ("\n".join(api) + "\n").encode()
        created = ms(day + timedelta(days=1, hours=3 if d < 2 else 80))  # the last day's file is late
        for file_id, etype, body in ((fid, "Login", lines), (aid, "ApiTotalUsage", api)):
            files.append(
                (
                    file_id,
                    etype,
                    ms(day),
                    created,
                    "Daily",
                    0,
                    float(len(blobs[file_id])),
                    f"/services/data/v62.0/sobjects/EventLogFile/{file_id}/LogFile",
                    body[0],
                )
            )
    conn.executemany(
        "INSERT INTO EventLogFile (Id, EventType, LogDate, CreatedDate, Interval, Sequence, LogFileLength,"
        " LogFile, LogFileFieldNames) VALUES (?,?,?,?,?,?,?,?,?)",
        files,
    )
    if licensed:
        ev = []
        for i in range(300):
            t = BASE + timedelta(seconds=i * 61)
            ev.append(
                (
                    f"evt-{i:05d}",
                    ms(t),
                    ms(t),
                    uids[i % users],
                    f"u{i}@example.com",
                    "198.51.100.9",
                    APPS[i % 4],
                    "Success" if i % 3 else "Failed: Invalid Token",
                    "Remote Access 2.0",
                    "N/A",
                )
            )
        conn.executemany(
            "INSERT INTO LoginEvent (EventIdentifier, EventDate, CreatedDate, UserId, Username, SourceIp,"
            " Application, Status, LoginType, ApiType) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ev,
        )
        conn.executemany(
            "INSERT INTO CredentialStuffingEventStore (EventIdentifier, EventDate, UserId, Username, "
            "SourceIp, Score, Summary) VALUES (?,?,?,?,?,?,?)",
            [
                (
                    f"cs-{i}",
                    ms(BASE + timedelta(hours=i)),
                    uids[i],
                    f"u{i}@example.com",
                    "203.0.113.5",
                    0.9,
                    "stuffing",
                )
                for i in range(5)
            ],
        )
    _bulk_jobs(conn)
    conn.commit()
    conn.close()
    metadata = [
        {
            "fullName": "Data_Loader",
            "label": "Data Loader",
            "oauthConfig": {"scopes": ["Api", "RefreshToken"], "isAdminApproved": False},
            "oauthPolicy": {"ipRelaxation": "ENFORCE", "refreshTokenPolicy": "infinite"},
        },
        {
            "fullName": "Mobile",
            "label": "Mobile",
            "oauthConfig": {"scopes": ["Full"], "isAdminApproved": True},
            "oauthPolicy": {"ipRelaxation": "BYPASS", "refreshTokenPolicy": "specific_lifetime:1:DAYS"},
        },
        # an External Client App: four components joined on externalClientApplication
        {"_type": "ExternalClientApplication", "_id": "0xI000000000001AAA", "fullName": "Partner_Portal",
         "label": "Partner Portal", "distributionState": "Local"},
        {"_type": "ExtlClntAppOauthSettings", "fullName": "Partner_Portal_oauth",
         "externalClientApplication": "Partner_Portal", "commaSeparatedOauthScopes": "RefreshToken,Api"},
        {"_type": "ExtlClntAppGlobalOauthSettings", "fullName": "Partner_Portal_glbloauth",
         "externalClientApplication": "Partner_Portal", "callbackUrl": "https://portal.example/cb"},
        {"_type": "ExtlClntAppOauthConfigurablePolicies", "fullName": "Partner_Portal_oauthPlcy",
         "externalClientApplication": "Partner_Portal", "permittedUsersPolicyType": "AllSelfAuthorized",
         "ipRelaxationPolicyType": "Bypass_2factor", "refreshTokenPolicyType": "Infinite"},
    ]  # fmt: skip
    return db, blobs, metadata


def settings_for(tmp_path: Path, store_url: str, **collect: Any) -> Settings:
    """Settings for one org "acme" over ``store_url``, collecting without settle lag."""
    return Settings.model_validate(
        {
            "store": {"url": store_url},
            "collect": {"settle_seconds": 0, "overlap_seconds": 300, **collect},
            "orgs": [
                {
                    "name": "acme",
                    "login_url": "https://org.example",
                    "flow": "jwt",
                    "client_id": "x",
                    "username": "u@example.com",
                    "private_key_file": str(tmp_path / "k.pem"),
                }
            ],
        }
    )


def run(settings: Settings, client: OrgDbClient, sources: list[str], engine: Any) -> list[Any]:
    """Run ``sources`` once with ``client`` standing in for Salesforce."""

    def factory(_org: Any, budget: Any, _timeout: float) -> OrgDbClient:
        client.budget = budget
        return client

    return collect_once(settings, sources=sources, client_factory=factory, engine=engine)
