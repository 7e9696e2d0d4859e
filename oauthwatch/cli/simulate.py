"""``simulate``: run the local Salesforce org over HTTPS on 127.0.0.1.

``python -m oauthwatch.cli.simulate`` runs this verb alone (the tests start the org this way, without
loading the other verbs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_API_LIMIT = 15000  # a Developer Edition org's daily API requests (Enterprise: 100,000 + per licence)

app = typer.Typer()


def _parse_scenarios(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        name, sep, when = spec.partition("@")
        if not name or not sep or not when:
            raise typer.BadParameter(
                f"{spec!r}: use NAME@TIME, e.g. token_theft@-2h or token_theft@2024-06-01T10:00Z"
            )
        out.append((name, when))
    return out


def _parse_now(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"--now {text!r}: use an ISO 8601 UTC time, e.g. 2026-03-04T12:00Z"
        ) from None
    if value.tzinfo is None:
        raise typer.BadParameter(f"--now {text!r}: give the time zone, e.g. 2026-03-04T12:00Z")
    return value.astimezone(UTC)


@app.command("simulate")
def simulate(
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Folder holding the org (created on first start).")
    ],
    port: Annotated[int, typer.Option(help="HTTPS port on 127.0.0.1 (0 = any free port).")] = 8443,
    seed: Annotated[int, typer.Option(help="Seed of the generated org (same seed, same org).")] = 1,
    days: Annotated[int, typer.Option(help="Days of history to generate.")] = 30,
    users: Annotated[int, typer.Option(help="Number of users.")] = 50,
    apps: Annotated[int, typer.Option(help="Number of connected apps.")] = 8,
    live: Annotated[bool, typer.Option("--live", help="Keep generating events while running.")] = False,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", help="Inject NAME@TIME (repeatable).")
    ] = None,
    faults: Annotated[str, typer.Option(help="Fault profile: none, flaky, slow, hostile.")] = "none",
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault stream.")] = 0,
    licensed: Annotated[
        bool,
        typer.Option("--licensed", help="Build the org with Event Monitoring (LoginEvent, threat events)."),
    ] = False,
    no_event_monitoring: Annotated[
        bool,
        typer.Option(
            "--no-event-monitoring",
            help="Serve the org as one without the Event Monitoring licence: no EventLogFile.Interval, "
            "daily files only, only the free event types, kept one day.",
        ),
    ] = False,
    token_ttl: Annotated[int, typer.Option(help="Access token lifetime in seconds.")] = 7200,
    api_limit: Annotated[
        int, typer.Option(help="Daily API request limit (15,000 = Developer Edition; Enterprise: 100,000+).")
    ] = DEFAULT_API_LIMIT,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="End the generated history at this UTC time (ISO 8601) and run the org's clock from "
            "there, so the same flags give the same org whatever the wall clock says.",
        ),
    ] = None,
    orgs: Annotated[
        int,
        typer.Option(
            "--orgs",
            min=1,
            max=200,
            help="Serve this many orgs from one process (DIR/orgs/org01 …, seeds SEED, SEED+1 …), each on "
            "its own port from --port up (any free ports with --port 0), with a fleet configuration.",
        ),
    ] = 1,
    integration_permissions: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated permission API names oauthwatch's integration user holds, e.g. "
            "ApiEnabled,ViewSetup (default: everything the product needs)."
        ),
    ] = None,
) -> None:
    """Serve a local Salesforce org (OAuth, REST, Bulk 2.0, Metadata) over HTTPS on 127.0.0.1."""
    from oauthwatch.simulator.api import faults as faults_mod
    from oauthwatch.simulator.data import orgdb, permissions
    from oauthwatch.simulator.serve import free_port, serve

    if faults not in faults_mod.PROFILES:
        raise typer.BadParameter(f"unknown fault profile {faults!r}; known: {', '.join(faults_mod.PROFILES)}")
    try:
        granted = (
            permissions.PRODUCT_NEEDS
            if integration_permissions is None
            else permissions.parse_list(integration_permissions)
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    injections = _parse_scenarios(scenario or [])
    anchor = _parse_now(now) if now else None

    def prepare(folder: Path, org_seed: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if not orgdb.db_path(folder).exists():
            from oauthwatch.simulator.generate.build import build_org

            typer.echo(
                f"building the org in {folder} (seed {org_seed}, {days} days, {users} users, {apps} apps)…",
                err=True,
            )
            build_org(folder, seed=org_seed, days=days, users=users, apps=apps, licensed=licensed, now=anchor)
        if injections:
            from oauthwatch.simulator.generate.scenarios import inject_scenarios

            inject_scenarios(folder, injections)
        from oauthwatch.simulator.data import clock, eventlog
        from oauthwatch.simulator.generate.access import grant_integration

        conn = orgdb.connect(orgdb.db_path(folder))
        try:
            grant_integration(conn, granted)
            eventlog.set_event_monitoring(conn, not no_event_monitoring, clock.org_now_ms(conn))
            conn.commit()
        finally:
            conn.close()

    if orgs > 1:
        from oauthwatch.simulator.serve_many import org_names, serve_many

        names = org_names(orgs)
        for i, name in enumerate(names):
            prepare(state_dir / "orgs" / name, seed + i)
        ports = {name: (port + i if port else free_port()) for i, name in enumerate(names)}
        serve_many(
            state_dir, ports, live=live, say=typer.echo, profile=faults, fault_seed=fault_seed,
            licensed=licensed, token_ttl=token_ttl, api_limit=api_limit,
        )  # fmt: skip
        return
    prepare(state_dir, seed)
    serve(
        state_dir,
        port or free_port(),
        live=live,
        profile=faults,
        fault_seed=fault_seed,
        licensed=licensed,
        token_ttl=token_ttl,
        api_limit=api_limit,
        say=typer.echo,
    )


def main() -> None:
    """``python -m oauthwatch.cli.simulate``: the simulate verb alone."""
    alone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    alone.command()(simulate)
    alone()


if __name__ == "__main__":
    main()
