"""Several local orgs in one process: ``oauthwatch simulate --orgs N``, for fleets (docs/deploy.md).

Each org is a full local org of its own: its own database (built from its own seed), consumer
key, JWT key and client secret, API budget and call log, in ``DIR/orgs/<name>/``. They differ
by instance URL the way real orgs do, by authority: org *k* listens on its own port of 127.0.0.1.
A path prefix could not do it: simple-salesforce keeps only the host (and port) of an
``instance_url`` (docs/architecture.md, decision 2). One uvicorn server listens on every port and
hands each connection to the org of the port it arrived on. One CA and server certificate
(``DIR/ca.pem``) serve them all.

Once every port listens, each org's ``credentials.json`` and ``oauthwatch.toml`` are written in
its folder (as for a single org), the fleet's configuration in ``DIR/oauthwatch.toml`` (one store,
the orgs in ``DIR/orgs.d/<name>.toml``), and last ``DIR/credentials.json`` listing every org:
the "ready" signal a harness waits for.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


def org_names(n: int) -> list[str]:
    """``org01`` … ``orgNN``: the names of the orgs of a fleet of ``n``."""
    width = max(2, len(str(n)))
    return [f"org{i:0{width}d}" for i in range(1, n + 1)]


class PortDispatch:
    """ASGI: the org whose port the connection arrived on answers it."""

    def __init__(self, apps: dict[int, ASGIApp]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        port = (scope.get("server") or (None, None))[1]
        app = self.apps.get(port) if port is not None else None
        if app is None:
            return
        await app(scope, receive, send)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    return sock


def _toml(value: str) -> str:
    return json.dumps(value)


def org_file(name: str, creds: dict[str, Any]) -> str:
    """One org's file of the fleet configuration (``orgs.d/<name>.toml``), secrets by reference."""
    state = Path(creds["db_path"]).parent
    return (
        f"# Written by `oauthwatch simulate --orgs`: the local org {name}.\n"
        f"name = {_toml(name)}\n"
        f"login_url = {_toml(creds['login_url'])}\n"
        'flow = "jwt"\n'
        f"client_id = {_toml(creds['consumer_key'])}\n"
        f"username = {_toml(creds['jwt_username'] or '')}\n"
        f"private_key_file = {_toml(creds['private_key_file'])}\n"
        f"client_secret_file = {_toml(str(state / 'client_secret.txt'))}\n"
        f"ca_bundle = {_toml(creds['ca_bundle'])}\n"
    )


def write_fleet(state_dir: Path, all_creds: dict[str, dict[str, Any]]) -> None:
    """The fleet's configuration (``oauthwatch.toml`` + ``orgs.d/``), then ``credentials.json``."""
    from oauthwatch.simulator.credentials import CONFIG, CREDENTIALS, write_private

    folder = state_dir / "orgs.d"
    folder.mkdir(exist_ok=True)
    for name, creds in all_creds.items():
        (folder / f"{name}.toml").write_text(org_file(name, creds))
    (state_dir / CONFIG).write_text(
        "# Written by `oauthwatch simulate --orgs`: every local org of this folder, one file each.\n"
        'orgs_dir = "orgs.d"\n\n[store]\nurl = "sqlite:///oauthwatch.db"\n'
    )
    write_private(state_dir / CREDENTIALS, json.dumps({"orgs": all_creds}, indent=2) + "\n")


def serve_many(
    state_dir: Path,
    ports: dict[str, int],
    *,
    live: bool,
    say: Callable[[str], object] = print,
    **options: Any,
) -> None:
    """Serve the orgs of ``DIR/orgs/<name>`` on their ports until SIGINT/SIGTERM; ``options`` are
    each org's (:func:`oauthwatch.simulator.serve.org_context`)."""
    asyncio.run(_serve(state_dir, ports, live=live, say=say, options=options))


async def _serve(
    state_dir: Path,
    ports: dict[str, int],
    *,
    live: bool,
    say: Callable[[str], object],
    options: dict[str, Any],
) -> None:
    from oauthwatch.simulator import credentials, tls
    from oauthwatch.simulator.serve import _server_class, org_context, server_config
    from oauthwatch.simulator.server import build_app

    files = tls.ensure_tls(state_dir)
    contexts = {name: org_context(state_dir / "orgs" / name, port, **options) for name, port in ports.items()}
    (state_dir / credentials.CREDENTIALS).unlink(missing_ok=True)
    sockets = [_listen(port) for port in ports.values()]
    app = PortDispatch({ctx.port: build_app(ctx) for ctx in contexts.values()})
    server = _server_class()(server_config(app, files))
    task = asyncio.create_task(server.serve(sockets=sockets))
    tickers = []
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        all_creds = {}
        for name, ctx in contexts.items():
            shutil.copy2(files.ca_cert, ctx.state_dir / tls.CA_CERT)
            all_creds[name] = credentials.write_all(ctx, files)
        if live:
            from oauthwatch.simulator.generate.live import Live

            tickers = [Live(ctx.state_dir) for ctx in contexts.values()]
            for t in tickers:
                t.start()
        write_fleet(state_dir, all_creds)
        first, last = min(ports.values()), max(ports.values())
        say(
            f"{len(contexts)} local Salesforce orgs listening on https://127.0.0.1:{first} … :{last}\n"
            f"  oauthwatch config : {state_dir / credentials.CONFIG}  (orgs in {state_dir / 'orgs.d'})\n"
            f"  secrets           : {state_dir / credentials.CREDENTIALS}\n  Ctrl-C stops them."
        )
    try:
        await task
    finally:
        for t in tickers:
            t.stop()
        for ctx in contexts.values():
            ctx.pages.close()
            ctx.query.close()
            (ctx.state_dir / credentials.CREDENTIALS).unlink(missing_ok=True)
        (state_dir / credentials.CREDENTIALS).unlink(missing_ok=True)
        for sock in sockets:
            sock.close()
