"""``run`` (the service in the foreground, stopped gracefully by SIGTERM or Ctrl-C) and ``health``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, VerboseOpt

app = typer.Typer()


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.command("run")
def run(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    cycles: Annotated[
        int | None,
        typer.Option("--cycles", help="Stop after this many cycles (default: run until stopped)."),
    ] = None,
    no_digest: Annotated[bool, typer.Option("--no-digest", help="Do not send the daily digest.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve Prometheus metrics (oauthwatch_…) on this port at /metrics (0: any free port).",
        ),
    ] = None,
    metrics_address: Annotated[
        str,
        typer.Option("--metrics-address", help="Address the metrics listen on (0.0.0.0 in a container)."),
    ] = "127.0.0.1",
    log_format: Annotated[
        LogFormat,
        typer.Option("--log-format", help="text, or json: one JSON object per line for log shippers."),
    ] = LogFormat.text,
    verbose: VerboseOpt = False,
) -> None:
    """Collect on the interval, detect, deliver alerts and send the daily digest, until SIGTERM/Ctrl-C.

    On PostgreSQL, start as many as you like: the workers divide the orgs between them (docs/deploy.md).

    The first signal finishes the write in progress (checkpoints are kept) and exits cleanly;
    a second one exits at once.
    """
    import logging
    import signal
    import threading

    from sqlalchemy.exc import SQLAlchemyError

    from oauthwatch.cli.context import setup_logging
    from oauthwatch.errors import ConfigError
    from oauthwatch.service import Service

    setup_logging(verbose, log_format.value)
    stop = threading.Event()
    log = logging.getLogger("oauthwatch.service")

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        log.info("%s received: finishing the current write, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rt = runtime(ctx)
    rt.orgs()
    settings = rt.settings
    if not no_digest:
        from oauthwatch.notify.digest_data import zone

        zone(settings.notify.digest_timezone)  # a wrong zone fails now, not at digest time
    try:
        engine = rt.store
    except SQLAlchemyError as exc:
        from sqlalchemy.engine import make_url

        from oauthwatch.secrets import redact

        where = make_url(settings.store.url).render_as_string(hide_password=True)
        raise ConfigError(
            f"cannot open the store at {where}: {redact(str(getattr(exc, 'orig', None) or exc))[:300]}; "
            "check [store] url (or $OAUTHWATCH_STORE_URL) and that the database is reachable"
        ) from None
    from oauthwatch.fleet import Fleet

    fleet = Fleet(engine, settings)
    metrics = None
    if metrics_port is not None:
        from oauthwatch.service_metrics import ServiceMetrics

        metrics = ServiceMetrics(engine)
        try:
            bound = metrics.serve(metrics_port, metrics_address)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {metrics_address}:{metrics_port}: {exc.strerror or exc}; "
                "choose a free --metrics-port"
            ) from None
        log.info("metrics on http://%s:%d/metrics", metrics_address, bound)
    try:
        Service(
            settings,
            engine,
            stop=stop,
            digests=not no_digest,
            max_cycles=cycles,
            fleet=fleet,
            observer=metrics,
        ).run()
    finally:
        if metrics is not None:
            metrics.close()


@app.command("health")
def health(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    max_age: Annotated[
        int,
        typer.Option("--max-age", help="Seconds since the last heartbeat above which it is unhealthy."),
    ] = 120,
) -> None:
    """Exit 0 when `oauthwatch run` is beating (the container's healthcheck), else 1 with the reason."""
    import socket
    from datetime import UTC, datetime

    from oauthwatch.service import heartbeats, own_heartbeat

    row = own_heartbeat(heartbeats(runtime(ctx).store), socket.gethostname())
    if row is None:
        typer.echo("unhealthy: no heartbeat yet (is `oauthwatch run` started?)")
        raise typer.Exit(1)
    age = (datetime.now(UTC) - row["beat_at"]).total_seconds()
    errors = (row["detail"] or {}).get("errors") or {}
    line = f"service pid {row['pid']} {row['state']}, last heartbeat {age:.0f} s ago"
    if errors:
        line += "; failing: " + ", ".join(f"{k} ({v[:120]})" for k, v in sorted(errors.items()))
    if row["state"] != "running" or age > max_age:
        typer.echo(f"unhealthy: {line}")
        raise typer.Exit(1)
    typer.echo(f"healthy: {line}")
