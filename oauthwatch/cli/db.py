"""``db upgrade``, ``db current`` and ``db prune``: the store's schema and retention."""

from __future__ import annotations

from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt

app = typer.Typer(name="db", help="Manage the store's schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context, config_path: ConfigOpt = None) -> None:
    """Apply schema migrations to the store (also done automatically on first use)."""
    from oauthwatch.store.migrate import current_revision, head_revision, upgrade

    engine = runtime(ctx).engine
    before = current_revision(engine)
    upgrade(engine)
    typer.echo(
        f"store {engine.url.render_as_string(hide_password=True)}: {before or 'empty'} -> {head_revision(engine)}"
    )


@app.command("current")
def db_current(ctx: typer.Context, config_path: ConfigOpt = None) -> None:
    """Print the store's schema revision and the newest one this version knows."""
    from oauthwatch.store.migrate import current_revision, head_revision

    engine = runtime(ctx).engine
    typer.echo(f"current {current_revision(engine) or 'empty'}, head {head_revision(engine)}")


@app.command("prune")
def db_prune(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what retention would remove; remove nothing.")
    ] = False,
) -> None:
    """Remove raw events and rollups older than [store.retention], in small batches (collection goes on).

    On PostgreSQL whole months of the event tables are dropped; the coverage ledger marks the
    pruned days, which the dashboard and the digest then show from the rollups.
    """
    from datetime import UTC, datetime

    from oauthwatch.store.retention import Policy, prune

    rt = runtime(ctx)
    r = rt.settings.store.retention
    policy = Policy(raw_days=r.raw_days, rollup_days=r.rollup_days, batch_rows=r.batch_rows)
    report = prune(rt.store, policy, datetime.now(UTC), dry_run=dry_run)
    if report.skipped:
        typer.echo(f"nothing pruned: {report.skipped}")
        raise typer.Exit(1)
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"raw events before {report.raw_before:%Y-%m-%d} (keep {r.raw_days} days), "
        f"rollups before {report.rollup_before:%Y-%m-%d} (keep {r.rollup_days} days)"
    )
    for table, n in report.by_table().items():
        parts = sorted({p for i in report.items if i.table == table for p in i.partitions})
        extra = f" ({len(parts)} monthly partition(s) dropped)" if parts and not dry_run else ""
        typer.echo(f"  {table:24s} {verb} {n:,} rows{extra}")
    for name in report.deferred:
        typer.echo(f"  {name}: a writer held it; it is dropped at the next prune")
    typer.echo(f"{verb} {report.rows:,} rows in all")
