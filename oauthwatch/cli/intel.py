"""``intel update|lookup|info``: the offline network classification and its data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, FormatOpt, OutputFormat
from oauthwatch.cli.output import emit

app = typer.Typer(
    name="intel",
    help="Offline network classification: hosting/cloud, VPN and Tor ranges.",
    no_args_is_help=True,
)


@app.command("update")
def update(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Downloaded range files (AWS/Google/Azure/Oracle JSON, Tor exit lists, CIDR lists)."
        ),
    ],
    kind: Annotated[
        str | None, typer.Option("--kind", help="hosting | vpn | tor | other (plain lists only).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Whose ranges these are (plain lists only).")
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Load range files into the store; each replaces the previous load of the same kind and provider."""
    from oauthwatch.intel.feeds import FeedError, read_feed
    from oauthwatch.intel.store import replace_feed

    feeds = []
    for f in files:
        try:
            feeds.append(read_feed(f, kind=kind, provider=provider))
        except FeedError as exc:
            raise typer.BadParameter(str(exc), param_hint="FILE") from None
    engine = runtime(ctx).store
    for feed in feeds:
        if not feed.rows:
            typer.echo(f"{feed.path}: no ranges found ({feed.format}); nothing loaded", err=True)
            continue
        n = replace_feed(engine, feed)
        typer.echo(f"{feed.path}: {n} range(s) loaded as {feed.name} ({feed.format})")
        if feed.skipped:
            typer.echo(f"  {len(feed.skipped)} line(s) skipped, e.g. {'; '.join(feed.skipped[:3])}", err=True)


@app.command("lookup")
def lookup(
    ctx: typer.Context,
    ips: Annotated[list[str], typer.Argument(help="Addresses to classify.")],
    config_path: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Classify addresses: hosting (provider), vpn, tor or other, and which table said so."""
    from oauthwatch.intel.networks import network_index

    index = network_index(runtime(ctx).store)
    rows = [
        {"ip": ip, "kind": c.kind, "provider": c.provider, "source": c.source}
        for ip in ips
        for c in [index.classify(ip)]
    ]
    typer.echo(emit(rows, ("ip", "kind", "provider", "source"), fmt))


@app.command("info")
def info(ctx: typer.Context, config_path: ConfigOpt = None) -> None:
    """What the shipped table holds and which feeds were loaded, when."""
    from oauthwatch.intel.networks import SHIPPED, _shipped_table
    from oauthwatch.intel.store import feed_summaries

    typer.echo(
        f"shipped: {_shipped_table().count} ranges ({SHIPPED.name}; sources and licences in data/NOTICE.md)"
    )
    for s in feed_summaries(runtime(ctx).store):
        typer.echo(
            f"loaded: {s.feed}: {s.ranges} ranges from {s.source_file} at {s.loaded_at:%Y-%m-%d %H:%M} UTC"
        )
