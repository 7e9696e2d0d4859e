"""Verbs over detection: ``detect``, ``backtest``, ``alerts [ack|resolve|suppress]``, ``allow add|list|remove``.

Each verb is a thin wrapper over a documented function (runner.run_all / backtest, lifecycle,
allowlist, alert_delivery.deliver_pending).
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from oauthwatch.cli_options import ConfigOpt, FormatOpt, OrgOpt, OutputFormat, VerboseOpt

ByOpt = Annotated[
    str | None, typer.Option("--by", help="Who does this (default: $OAUTHWATCH_USER or $USER).")
]
ALERT_COLUMNS = (
    "id",
    "status",
    "severity",
    "detector",
    "org",
    "subject",
    "title",
    "count",
    "first_seen",
    "last_seen",
)


def _cell(v: Any) -> str:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if v is None:
        return ""
    return str(v)


def emit(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: OutputFormat) -> str:
    """Rows as an aligned table, JSON (full rows) or CSV (the listed columns)."""
    if fmt == OutputFormat.json:
        return json.dumps(
            rows, indent=2, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)
        )
    if fmt == OutputFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            # A leading = + - @ would be a formula in a spreadsheet: quote it away.
            w.writerow(["'" + c if c and c[0] in "=+-@" else c for c in (_cell(r.get(k)) for k in columns)])
        return buf.getvalue().rstrip("\n")
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(k))[:60] for k in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _who() -> str:
    return os.environ.get("OAUTHWATCH_USER") or os.environ.get("USER") or "cli"


def _parse_time(text: str, what: str) -> datetime:
    from oauthwatch.rules.times import parse_utc

    try:
        return parse_utc(text, what)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add ``detect``, ``backtest``, ``alerts`` and ``allow`` to the CLI."""

    @app.command("detect")
    def detect(
        config_path: ConfigOpt = None,
        org: OrgOpt = None,
        deliver: Annotated[
            bool, typer.Option("--deliver/--no-deliver", help="Send queued notifications afterwards.")
        ] = True,
        fmt: FormatOpt = OutputFormat.table,
        verbose: VerboseOpt = False,
    ) -> None:
        """Run every detector over the store, record alerts, and send notifications for new ones."""
        from oauthwatch.cli import setup_logging
        from oauthwatch.config import load_settings
        from oauthwatch.detect.runner import run_all
        from oauthwatch.notify.alert_delivery import deliver_pending
        from oauthwatch.store import open_store

        setup_logging(verbose)
        settings = load_settings(config_path)
        engine = open_store(settings.store.url)
        report = run_all(engine, settings, org=org)
        rows = [
            {
                "severity": f.severity,
                "detector": f.detector,
                "org": f.org,
                "subject": f.subject,
                "title": f.title,
                "explanation": f.explanation,
                "evidence": f.evidence,
                "dedupe_key": f.dedupe_key,
            }
            for f in report.findings
        ]
        typer.echo(emit(rows, ("severity", "detector", "org", "subject", "title"), fmt))
        sent = deliver_pending(engine, settings) if deliver else 0
        typer.echo(report.summary() + (f"; {sent} sent" if deliver else ""), err=True)
        if report.errors:
            for k, v in report.errors.items():
                typer.echo(f"detector error {k}: {v}", err=True)
            raise typer.Exit(1)

    @app.command("backtest")
    def backtest_cmd(
        start: Annotated[str, typer.Option("--from", help="Start of the replay (UTC date or time).")],
        end: Annotated[str, typer.Option("--to", help="End of the replay (UTC date or time).")],
        step_minutes: Annotated[
            int | None,
            typer.Option("--step-minutes", help="Replay step (default: the detection window).", min=5),
        ] = None,
        detector: Annotated[
            list[str] | None, typer.Option("--detector", help="Only this detector (repeatable).")
        ] = None,
        config_path: ConfigOpt = None,
        org: OrgOpt = None,
        fmt: FormatOpt = OutputFormat.table,
        verbose: VerboseOpt = False,
    ) -> None:
        """Replay the detectors over stored history and report what would have fired, per detector."""
        from oauthwatch.cli import setup_logging
        from oauthwatch.config import load_settings
        from oauthwatch.detect.runner import backtest
        from oauthwatch.store import open_store

        setup_logging(verbose)
        settings = load_settings(config_path)
        t0, t1 = _parse_time(start, "--from"), _parse_time(end, "--to")
        if t1 <= t0:
            raise typer.BadParameter("--to must be after --from")
        engine = open_store(settings.store.url)
        step = timedelta(minutes=step_minutes) if step_minutes else None
        report = backtest(engine, settings, start=t0, end=t1, step=step, org=org, only=detector or None)
        rows = [
            {
                "detector": r.detector,
                "alerts": r.alerts,
                "findings": r.findings,
                "first": r.first,
                "top_subjects": ", ".join(
                    f"{s} ({n})" for s, n in sorted(r.subjects.items(), key=lambda x: -x[1])[:3]
                ),
                "errors": r.errors,
            }
            for r in report.rows.values()
        ]
        typer.echo(emit(rows, ("detector", "alerts", "findings", "first", "top_subjects", "errors"), fmt))
        if report.not_replayed:
            typer.echo(
                f"not replayed (they judge the current state): {', '.join(report.not_replayed)}", err=True
            )
        typer.echo(
            f"{report.steps} step(s) of {report.step} from {t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} UTC",
            err=True,
        )

    alerts = typer.Typer(
        help="List alerts and move them along: ack, resolve, suppress.", invoke_without_command=True
    )
    app.add_typer(alerts, name="alerts")

    @alerts.callback()
    def alerts_list(
        ctx: typer.Context,
        status: Annotated[
            str, typer.Option("--status", help="open | acknowledged | resolved | active | all")
        ] = "active",
        detector: Annotated[str | None, typer.Option("--detector", help="Only this detector.")] = None,
        limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 200,
        config_path: ConfigOpt = None,
        org: OrgOpt = None,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        """List alerts (default: open and acknowledged), newest activity first."""
        if ctx.invoked_subcommand is not None:
            return
        from oauthwatch.config import load_settings
        from oauthwatch.detect.lifecycle import list_alerts
        from oauthwatch.store import open_store

        engine = open_store(load_settings(config_path).store.url)
        try:
            rows = list_alerts(engine, status=status, org=org, detector=detector, limit=limit)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(emit(rows, ALERT_COLUMNS, fmt))

    def _change(action: str, alert_id: int, config_path: Any, by: str | None, **kw: Any) -> None:
        from oauthwatch.config import load_settings
        from oauthwatch.detect import lifecycle
        from oauthwatch.store import open_store

        engine = open_store(load_settings(config_path).store.url)
        try:
            row = getattr(lifecycle, action)(engine, alert_id, by=by or _who(), **kw)
        except lifecycle.AlertNotFound as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        extra = f" until {row['suppressed_until']:%Y-%m-%d %H:%M} UTC" if action == "suppress" else ""
        typer.echo(f"alert #{alert_id} {row['status']}{extra} by {row['status_by']}: {row['title']}")

    @alerts.command("ack")
    def alerts_ack(alert_id: int, by: ByOpt = None, config_path: ConfigOpt = None) -> None:
        """Acknowledge an alert: someone is on it (escalations still notify)."""
        _change("acknowledge", alert_id, config_path, by)

    @alerts.command("resolve")
    def alerts_resolve(alert_id: int, by: ByOpt = None, config_path: ConfigOpt = None) -> None:
        """Resolve an alert; it reopens only if its detector sees something newer."""
        _change("resolve", alert_id, config_path, by)

    @alerts.command("suppress")
    def alerts_suppress(
        alert_id: int,
        hours: Annotated[
            float, typer.Option("--hours", help="Silence notifications for this long.", min=0.1)
        ] = 24.0,
        by: ByOpt = None,
        config_path: ConfigOpt = None,
    ) -> None:
        """Silence an alert's notifications for a while (it is still tracked)."""
        _change("suppress", alert_id, config_path, by, until=datetime.now(UTC) + timedelta(hours=hours))

    allow = typer.Typer(help="The allowlist of approved connected apps.", no_args_is_help=True)
    app.add_typer(allow, name="allow")

    @allow.command("add")
    def allow_add(
        app_name: Annotated[str, typer.Argument(help="The connected app's name, as Salesforce shows it.")],
        owner: Annotated[str | None, typer.Option("--owner", help="Who answers for the app.")] = None,
        ip_range: Annotated[
            list[str] | None, typer.Option("--ip-range", help="Expected CIDR range (repeatable).")
        ] = None,
        country: Annotated[
            list[str] | None, typer.Option("--country", help="Expected country code (repeatable).")
        ] = None,
        user: Annotated[
            list[str] | None, typer.Option("--user", help="Integration username or 005 id (repeatable).")
        ] = None,
        expires: Annotated[
            str | None, typer.Option("--expires", help="Approval ends on this date (UTC).")
        ] = None,
        note: Annotated[str | None, typer.Option("--note", help="Why it is approved.")] = None,
        config_path: ConfigOpt = None,
        org: OrgOpt = None,
    ) -> None:
        """Approve an app (for --org, or every org); replaces its existing entry."""
        from oauthwatch.config import load_settings
        from oauthwatch.detect.allowlist import AllowlistError, add_entry, parse_expiry
        from oauthwatch.store import open_store

        engine = open_store(load_settings(config_path).store.url)
        try:
            entry_id = add_entry(
                engine,
                app_name,
                org=org,
                owner=owner,
                ip_ranges=ip_range or (),
                countries=country or (),
                integration_users=user or (),
                note=note,
                expires_at=parse_expiry(expires),
                created_by=_who(),
            )
        except AllowlistError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"allowlist entry #{entry_id}: {app_name} ({org or 'every org'})")

    @allow.command("list")
    def allow_list(
        config_path: ConfigOpt = None, org: OrgOpt = None, fmt: FormatOpt = OutputFormat.table
    ) -> None:
        """List the allowlist (expired entries are shown with active = False)."""
        from oauthwatch.config import load_settings
        from oauthwatch.detect.allowlist import list_entries
        from oauthwatch.store import open_store

        engine = open_store(load_settings(config_path).store.url)
        rows = [e.as_dict() for e in list_entries(engine, org=org)]
        cols = (
            "id",
            "org",
            "app_name",
            "owner",
            "ip_ranges",
            "countries",
            "integration_users",
            "expires_at",
            "active",
        )
        typer.echo(emit(rows, cols, fmt))

    @allow.command("remove")
    def allow_remove(
        entry: Annotated[str, typer.Argument(help="Entry id, or app name.")],
        config_path: ConfigOpt = None,
        org: OrgOpt = None,
    ) -> None:
        """Remove an entry by id or app name."""
        from oauthwatch.config import load_settings
        from oauthwatch.detect.allowlist import remove_entry
        from oauthwatch.store import open_store

        engine = open_store(load_settings(config_path).store.url)
        n = remove_entry(engine, entry, org=org)
        typer.echo(f"removed {n} entr{'y' if n == 1 else 'ies'}")
        if not n:
            raise typer.Exit(1)
