"""The store: schema, engine, migrations, idempotent writes and the queries everyone reads with.

Usage::

    from oauthwatch.store import open_store
    engine = open_store("sqlite:///oauthwatch.db")   # migrates on first use
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauthwatch.store.engine import make_engine
from oauthwatch.store.migrate import ensure_current

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def open_store(url: str, *, migrate: bool = True) -> Engine:
    """An engine on the store at ``url``, brought to the newest schema unless ``migrate=False``.

    Raises :class:`oauthwatch.errors.StoreUnavailable` (one line for the CLI, no traceback) when
    the URL is of no supported kind or the database does not answer.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from oauthwatch.errors import StoreUnavailable
    from oauthwatch.secrets import redact

    try:
        shown = make_url(url).render_as_string(hide_password=True)  # a server URL may carry a password
    except (ArgumentError, ValueError):
        shown = "(not a URL)"
    try:
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError, OSError) as exc:
        raise StoreUnavailable(
            f"store url {shown!r} is not usable ({type(exc).__name__}): use sqlite:///path/oauthwatch.db "
            "or postgresql+psycopg://user@host/db in [store] url"
        ) from None
    if migrate:
        try:
            ensure_current(engine)
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else type(exc).__name__
            raise StoreUnavailable(
                f"cannot open the store at {shown}: {redact(reason)}; start the database or fix [store] url"
            ) from None
    return engine


__all__ = ["make_engine", "open_store"]
