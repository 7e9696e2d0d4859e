"""The local org's database: one SQLite file per state folder.

Public tables are the sObjects of :mod:`oauthwatch.simulator.data.catalog` (names and columns exactly
as Salesforce spells them). Private tables, prefixed ``_``, hold what a real org keeps but never
returns through SOQL: consumer secrets, certificates and OAuth settings of each connected app,
user passwords, issued tokens, query locators' state, the API counter and the scenario log. They
are how the OAuth endpoints and the Metadata API answer like the real thing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from oauthwatch.simulator.data import catalog, schema

DB_NAME = "org.sqlite3"

PRIVATE_DDL = (
    # One row per app: the Metadata API's ConnectedApp oauthConfig / oauthPolicy, or (Model) an
    # External Client App's OAuth settings and policies; an External Client App has no
    # ConnectedApplication row.
    """CREATE TABLE IF NOT EXISTS _AppConfig (
        AppId TEXT PRIMARY KEY,            -- ConnectedApplication.Id (0H4…)
        Label TEXT NOT NULL,               -- = ConnectedApplication.Name = LoginHistory.Application
        FullName TEXT NOT NULL,            -- Metadata API developer name
        ContactEmail TEXT,
        ConsumerKey TEXT UNIQUE NOT NULL,
        ConsumerSecret TEXT NOT NULL,
        CallbackUrl TEXT,
        CertificatePem TEXT,               -- JWT bearer: the uploaded certificate
        Scopes TEXT NOT NULL,              -- JSON list of metadata enum values: ["Api","RefreshToken",…]
        Flows TEXT NOT NULL,               -- JSON list: jwt, client_credentials, web_server, refresh_token, password
        IsAdminApproved INTEGER NOT NULL DEFAULT 0,
        IpRelaxation TEXT NOT NULL DEFAULT 'ENFORCE',
        RefreshTokenPolicy TEXT NOT NULL DEFAULT 'infinite',
        IsPkceRequired INTEGER NOT NULL DEFAULT 0,
        IsSecretRequiredForRefreshToken INTEGER NOT NULL DEFAULT 1,
        ClientCredentialUserId TEXT,       -- run-as user for client credentials
        SessionLevel TEXT,                 -- NULL or 'HIGH_ASSURANCE'
        Kind TEXT,                         -- generator's role for the app: integration, user, mobile, legacy, oauthwatch
        Model TEXT NOT NULL DEFAULT 'ConnectedApp'  -- or ExternalClientApplication: Metadata API only
    )""",
    """CREATE TABLE IF NOT EXISTS _UserSecret (
        UserId TEXT PRIMARY KEY,
        Password TEXT NOT NULL,
        SecurityToken TEXT,
        AllowedIpRanges TEXT               -- JSON list of CIDRs from the profile's login IP ranges, or NULL
    )""",
    # Tokens the org issued (access and refresh); opaque values, expiry for access tokens.
    """CREATE TABLE IF NOT EXISTS _Token (
        Token TEXT PRIMARY KEY,
        Kind TEXT NOT NULL,                -- access | refresh | code
        AppId TEXT NOT NULL,
        UserId TEXT NOT NULL,
        Scopes TEXT NOT NULL,
        IssuedAt INTEGER NOT NULL,         -- epoch ms
        ExpiresAt INTEGER,                 -- epoch ms; NULL = until revoked
        Revoked INTEGER NOT NULL DEFAULT 0,
        Extra TEXT                         -- JSON: PKCE challenge, redirect_uri, parent refresh token…
    )""",
    # Key/value state: API usage counter, clock offset, licence flags, fault profile, etc.
    """CREATE TABLE IF NOT EXISTS _State (
        Key TEXT PRIMARY KEY,
        Value TEXT
    )""",
)


def db_path(state_dir: Path) -> Path:
    """Where the org database lives inside a state folder."""
    return Path(state_dir) / DB_NAME


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the settings the local org needs (WAL, busy timeout, rows as tuples)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def create_schema(conn: sqlite3.Connection, *, licensed: bool) -> None:
    """Create every public table (licensed-only ones when ``licensed``) and the private ones."""
    for obj in catalog.OBJECTS.values():
        if obj.licensed_only and not licensed:
            continue
        for stmt in schema.ddl(obj):
            conn.execute(stmt)
    for stmt in PRIVATE_DDL:
        conn.execute(stmt)
    conn.commit()
