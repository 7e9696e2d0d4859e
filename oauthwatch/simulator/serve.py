"""Serve the local org: uvicorn over HTTPS on 127.0.0.1, credentials written once it listens.

``oauthwatch simulate`` (oauthwatch.cli.simulate) builds the org and calls ``serve``; the
credentials file exists only while the server runs, so a client that finds it can connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext
    from oauthwatch.simulator.tls import TlsFiles


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(
    state_dir: Path,
    port: int,
    *,
    live: bool,
    profile: str,
    fault_seed: int,
    licensed: bool,
    token_ttl: int,
    api_limit: int,
    say: Callable[[str], object] = print,
) -> None:
    """Serve the org in ``state_dir`` until SIGINT/SIGTERM; ``say`` prints the credentials banner."""
    asyncio.run(
        _serve(
            state_dir,
            port,
            live=live,
            profile=profile,
            fault_seed=fault_seed,
            licensed=licensed,
            token_ttl=token_ttl,
            api_limit=api_limit,
            say=say,
        )
    )


async def _serve(
    state_dir: Path,
    port: int,
    *,
    live: bool,
    profile: str,
    fault_seed: int,
    licensed: bool,
    token_ttl: int,
    api_limit: int,
    say: Callable[[str], object],
) -> None:
    from oauthwatch.simulator import credentials, tls
    from oauthwatch.simulator.server import build_app

    files = tls.ensure_tls(state_dir)
    ctx = org_context(
        state_dir, port, profile=profile, fault_seed=fault_seed, licensed=licensed, token_ttl=token_ttl,
        api_limit=api_limit,
    )  # fmt: skip
    (state_dir / credentials.CREDENTIALS).unlink(missing_ok=True)
    server = _server_class()(server_config(build_app(ctx), files, host="127.0.0.1", port=port))
    ticker = None
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        creds = credentials.write_all(ctx, files)
        if live:
            from oauthwatch.simulator.generate.live import Live

            ticker = Live(state_dir)
            ticker.start()
        say(credentials.banner(creds))
    try:
        await task
    finally:
        if ticker is not None:
            ticker.stop()
        ctx.pages.close()
        ctx.query.close()
        (state_dir / credentials.CREDENTIALS).unlink(missing_ok=True)


def org_context(
    state_dir: Path,
    port: int,
    *,
    profile: str,
    fault_seed: int,
    licensed: bool,
    token_ttl: int,
    api_limit: int,
) -> OrgContext:
    """The shared state of one org's request handlers, with its own fault stream."""
    from oauthwatch.simulator.api import faults
    from oauthwatch.simulator.api.context import OrgContext

    prof = faults.profile_from({"profile": profile, "seed": fault_seed})
    return OrgContext(
        state_dir=state_dir,
        port=port,
        token_ttl_s=token_ttl,
        api_limit=api_limit,
        licensed=licensed,
        faults=faults.Faults(prof),
    )


def server_config(app: Any, files: TlsFiles, **where: Any) -> Any:
    """uvicorn's configuration for the org(s): HTTPS with the org's certificate, quiet, quick to stop."""
    import uvicorn

    return uvicorn.Config(
        app,
        **where,
        ssl_certfile=str(files.server_cert),
        ssl_keyfile=str(files.server_key),
        log_level="warning",
        access_log=False,
        lifespan="off",
        h11_max_incomplete_event_size=64 * 1024,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,
    )


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but SIGINT/SIGTERM end it with exit status 0 (uvicorn re-raises them)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return Server
