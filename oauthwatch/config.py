"""Typed settings: one TOML file, environment overrides, secrets only from env vars or files.

From ``--config PATH``, else ``$OAUTHWATCH_CONFIG``, else ``./oauthwatch.toml``. Environment overrides:

- ``OAUTHWATCH_STORE_URL`` replaces ``[store] url``;
- ``OAUTHWATCH_ORG_<NAME>_<KEY>`` replaces key ``<key>`` of the org named ``<name>``
  (upper-cased, ``-`` as ``_``), e.g. ``OAUTHWATCH_ORG_PROD_LOGIN_URL``.

Secrets (client secret, password, refresh token, private key) are never values in the file:
the file names an environment variable (``client_secret_env``) or a file (``client_secret_file``),
and the value is read only when a flow needs it, into a ``SecretStr`` that prints as ``**********``.

A wrong file gets a :class:`ConfigError` whose message names the key, the problem and a correct
example, so the CLI can print it instead of a traceback.
"""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from collectors.sources.registry import SOURCE_NAMES, api_version_problem
from oauthwatch.config_file import (
    apply_env_overrides,
    check_shape,
    check_store_url,
    explain,
    read_org_dir,
    read_toml,
    resolve_paths,
)
from oauthwatch.errors import ConfigError
from oauthwatch.notify.webhook_target import WebhookUrl
from oauthwatch.secret_settings import EnvName, masked_dump, read_secret_file, register_setting_secrets
from oauthwatch.settings_store import StoreSettings
from oauthwatch.settings_threat import HuntSettings, ResponseSettings

DEFAULT_CONFIG = Path("oauthwatch.toml")

Flow = Literal["jwt", "client_credentials", "web_server", "refresh_token", "password"]

ALL_SOURCES: tuple[str, ...] = SOURCE_NAMES  # the collectors' registry, in run order

EXAMPLE = """\
[store]
url = "sqlite:///oauthwatch.db"          # or postgresql+psycopg://user@host/db

[[orgs]]
name = "prod"
login_url = "https://acme.my.salesforce.com"
flow = "jwt"                              # jwt | client_credentials | web_server | refresh_token | password
client_id = "3MVG9...your consumer key"
username = "oauthwatch@acme.com"
private_key_file = "keys/prod.key"        # made by `oauthwatch keygen --org prod`
"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectSettings(_Strict):
    """How often and how hard collection may run."""

    interval_seconds: int = Field(900, ge=10, description="seconds between collection cycles")
    jitter_seconds: int = Field(60, ge=0, description="random delay added to each cycle")
    run_budget_share: float = Field(
        0.10, gt=0, le=1, description="share of the daily API limit one run may use"
    )
    total_budget_share: float = Field(
        0.50, gt=0, le=1, description="share of the daily API limit above which collection stops"
    )
    bulk_threshold_rows: int = Field(
        200_000, ge=1000, description="backfills above this many rows use Bulk API 2.0"
    )
    overlap_seconds: int = Field(300, ge=0, description="re-read window behind each event cursor")
    settle_seconds: int = Field(
        120, ge=0, description="events newer than now minus this are read again next run"
    )
    request_timeout_seconds: float = Field(
        60.0, gt=0, description="timeout of every HTTP request to Salesforce"
    )
    query_batch_size: int = Field(
        2000,
        ge=200,
        le=2000,
        description="rows per page asked of Salesforce (Sforce-Query-Options batchSize)",
    )
    token_snapshot_minutes: int = Field(
        360,
        ge=0,
        description="refresh the day's OauthToken snapshot at most this often (the day's last one wins)",
    )
    lease_seconds: int | None = Field(
        None,
        ge=3,
        description="how long a worker's hold on an org outlives its last renewal (docs/deploy.md, Workers): "
        "a dead worker's orgs are taken over after it; default a third of the shortest interval, at most 60",
    )


class DetectSettings(_Strict):
    """Detector thresholds; any detector's own keys go under [detect.<detector>]."""

    model_config = ConfigDict(extra="allow", frozen=True)

    window_minutes: int = Field(60, ge=5, description="the recent window each detection run judges")
    history_days: int = Field(35, ge=8, description="days of logins loaded for baselines")
    lookback_hours: int = Field(
        72,
        ge=1,
        description="how far back a run judges windows that received events since the last run "
        "(late Event Log Files, imports)",
    )
    disabled: list[str] = Field(default_factory=list, description="detector ids not to run")


class SmtpSettings(_Strict):
    """Outgoing mail for alerts and the digest."""

    host: str = "localhost"
    port: int = 25
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password_env: EnvName | None = None
    password_file: Path | None = None
    sender: str = "oauthwatch@localhost"
    timeout_seconds: float = 30.0
    ca_bundle: Path | None = None

    def password(self) -> SecretStr | None:
        """The SMTP password, read from its env var or file; None when none is configured."""
        return _read_secret("smtp.password", self.password_env, self.password_file, required=False)


class NotifySettings(_Strict):
    """Where alerts and digests go."""

    email_to: list[str] = Field(default_factory=list)
    webhook_url: WebhookUrl | None = None
    webhook_urls: list[WebhookUrl] = Field(default_factory=list, description="more webhooks, each sent to")
    webhook_url_env: EnvName | None = None
    min_severity: Literal["info", "low", "medium", "high", "critical"] = "medium"
    cooldown_minutes: int = Field(60, ge=0)
    digest_time: time = Field(time(7, 0), description="local time of day the digest is sent")
    digest_timezone: str = "UTC"
    dashboard_url: str = "http://localhost:8501"
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)


class OrgSettings(_Strict):
    """One monitored org and how oauthwatch authenticates to it."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    login_url: str
    flow: Flow = "jwt"
    client_id: str
    username: str | None = None
    private_key_file: Path | None = None
    certificate_file: Path | None = None
    client_secret_env: EnvName | None = None
    client_secret_file: Path | None = None
    password_env: EnvName | None = None
    password_file: Path | None = None
    refresh_token_file: Path | None = None
    redirect_uri: str = "http://localhost:1717/callback"
    jwt_audience: str | None = Field(
        None, description="JWT bearer `aud` override (default: decided from login_url's host)"
    )
    ca_bundle: Path | None = None
    api_version: str = "62.0"
    sources: list[str] = Field(default_factory=lambda: list(ALL_SOURCES))
    event_log_interval: Literal["Hourly", "Daily"] = "Daily"
    primary_login_source: Literal["login_history", "login_event", "elf_login"] = "login_history"
    digest_to: list[str] = Field(default_factory=list)
    enabled: bool = True
    interval_seconds: int | None = Field(
        None, ge=10, description="this org's collection interval (default: [collect] interval_seconds)"
    )
    detect: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="this org's detector thresholds over [detect.<id>]: [orgs.detect.<id>]",
    )

    @field_validator("login_url")
    @classmethod
    def _https_only(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError(
                "must be an https:// URL such as https://login.salesforce.com, https://test.salesforce.com "
                "or your My Domain https://acme.my.salesforce.com"
            )
        return v.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version_shape(cls, v: str) -> str:
        v = v.removeprefix("v")
        major, _, minor = v.partition(".")
        if not major.isdigit() or (minor and not minor.isdigit()):
            raise ValueError('must look like "62.0"')
        return f"{int(major)}.{minor or '0'}"

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(ALL_SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {list(ALL_SOURCES)}")
        return v

    @model_validator(mode="after")
    def _needs(self) -> OrgSettings:  # what the sources' queries and the flow need
        if problem := api_version_problem(self.api_version, self.sources):
            raise ValueError(problem)
        need: dict[str, list[str]] = {
            "jwt": ["username", "private_key_file"],
            "password": ["username"],
        }
        missing = [k for k in need.get(self.flow, []) if getattr(self, k) in (None, "")]
        if missing:
            raise ValueError(f"flow {self.flow!r} needs {', '.join(missing)}")
        if self.flow in ("client_credentials", "password") and not (
            self.client_secret_env or self.client_secret_file
        ):
            raise ValueError(f"flow {self.flow!r} needs client_secret_env or client_secret_file")
        if self.flow == "password" and not (self.password_env or self.password_file):
            raise ValueError("flow 'password' needs password_env or password_file")
        return self

    def client_secret(self, required: bool = True) -> SecretStr | None:
        """The consumer secret from the env var or file the config names."""
        return _read_secret(
            f"orgs.{self.name}.client_secret", self.client_secret_env, self.client_secret_file, required
        )

    def password(self, required: bool = True) -> SecretStr | None:
        """The integration user's password (username-password flow only)."""
        return _read_secret(f"orgs.{self.name}.password", self.password_env, self.password_file, required)


class Settings(_Strict):
    """The whole configuration file."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    collect: CollectSettings = Field(default_factory=CollectSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    hunt: HuntSettings = Field(default_factory=HuntSettings)
    response: ResponseSettings = Field(default_factory=ResponseSettings)
    orgs: list[OrgSettings] = Field(default_factory=list)
    orgs_dir: Path | None = Field(
        None, description="a folder of per-org files (one org per *.toml), added to orgs"
    )
    source_path: Path | None = Field(None, exclude=True)

    @field_validator("orgs")
    @classmethod
    def _unique_names(cls, v: list[OrgSettings]) -> list[OrgSettings]:
        names = [o.name for o in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"org names must be unique; repeated: {dupes}")
        return v

    @model_validator(mode="after")
    def _lease_below_interval(self) -> Settings:  # else a dead worker's orgs wait longer than an interval
        lease, shortest = self.collect.lease_seconds, self._shortest_interval()
        if lease is not None and lease * 2 > shortest:
            raise ValueError(
                f"collect.lease_seconds ({lease}) must be at most half the shortest collection interval "
                f"({shortest} s), so that a dead worker's orgs are taken over within one interval"
            )
        return self

    def _shortest_interval(self) -> int:
        return min([self.interval(o) for o in self.orgs] or [self.collect.interval_seconds])

    def lease_seconds(self) -> int:
        """The lease time of a worker's hold on an org: the configured one, else a third of the shortest interval (3-60 s)."""
        return self.collect.lease_seconds or max(3, min(60, self._shortest_interval() // 3))

    def interval(self, org: OrgSettings) -> int:
        """Seconds between collections of ``org`` (its own interval, else ``[collect]``'s)."""
        return org.interval_seconds or self.collect.interval_seconds

    def only(self, names: set[str]) -> Settings:
        """The same settings with only the orgs named (a worker's share, or the orgs due now)."""
        return self.model_copy(update={"orgs": [o for o in self.orgs if o.name in names]})

    def org(self, name: str) -> OrgSettings:
        """The org called ``name``, or a ConfigError listing the configured names."""
        for o in self.orgs:
            if o.name == name:
                return o
        known = ", ".join(o.name for o in self.orgs) or "none"
        raise ConfigError(f"no org named {name!r} in the configuration (configured: {known})")

    def selected_orgs(self, name: str | None = None) -> list[OrgSettings]:
        """Every enabled org, or just the one named."""
        return [self.org(name)] if name else [o for o in self.orgs if o.enabled]

    def detector(self, name: str, org: str | None = None) -> dict[str, Any]:
        """The ``[detect.<name>]`` table (threshold overrides), with ``org``'s own over it, or {}."""
        extra = self.detect.model_extra or {}
        value = extra.get(name, {})
        out = dict(value) if isinstance(value, dict) else {}
        for o in self.orgs:
            if o.name == org:
                out.update(o.detect.get(name, {}))
        return out


def _read_secret(key: str, env: str | None, file: Path | None, required: bool) -> SecretStr | None:
    """The secret from the variable or file the settings name; errors name the setting, never its value."""
    name = key.rsplit(".", 1)[-1]
    if env:
        value = os.environ.get(env)
        if value:
            return SecretStr(value.strip())
        if not file:
            if required:
                raise ConfigError(
                    f"{key}: the environment variable named by {name}_env is not set (export it)"
                )
            return None
    if file:
        try:
            return SecretStr(read_secret_file(f"{key}_file", Path(file)))
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"{key}: cannot read the file named by {name}_file: {why}") from None
    if required:
        raise ConfigError(f"{key}: no secret configured; set {name}_env or {name}_file")
    return None


def config_path(explicit: Path | str | None = None) -> Path:
    """Which file to read: the explicit one, $OAUTHWATCH_CONFIG, or ./oauthwatch.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("OAUTHWATCH_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_settings(path: Path | str | None = None, *, must_exist: bool = False) -> Settings:
    """Read, override from the environment, and validate the configuration.

    A missing default file yields the defaults (an empty store, no orgs) unless ``must_exist``.
    Relative file paths inside the file are resolved against the file's folder.
    """
    p = config_path(path)
    raw: dict[str, Any] = {}
    if p.exists():
        raw = read_toml(p, EXAMPLE)
        check_shape(p, raw)
        raw = read_org_dir(p, raw)
    elif must_exist or path is not None or os.environ.get("OAUTHWATCH_CONFIG"):
        raise ConfigError(
            f"configuration file {p} does not exist. Create it, for example:\n\n{EXAMPLE}\n"
            "or try the local org first: `oauthwatch simulate --state-dir demo-org` writes a ready one."
        )
    raw = apply_env_overrides(raw)
    check_store_url(p, raw)
    resolve_paths(raw, p.parent if p.exists() else Path.cwd())
    register_setting_secrets(raw)  # before validation: its errors and any later log stay masked
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain(p, raw, exc, EXAMPLE)) from None
    return settings.model_copy(update={"source_path": p if p.exists() else None})


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as a dict for `oauthwatch config show`: secrets are references, never values."""
    return masked_dump(settings.model_dump(mode="json", exclude={"source_path"}))
