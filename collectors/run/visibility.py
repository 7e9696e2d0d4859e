"""Which sources the integration user can only partly see, learned once an hour per org.

The runner asks before each source: a source that sees only the integration user's own rows
(LoginHistory without Manage Users, OauthToken without Customize Application; see
:mod:`collectors.sources.access`) is still collected, but its run is ``partial`` and the coverage
days it touched say ``own rows only``, so no count is ever shown as complete when it is not.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

from collectors.sources.access import Effective, Visibility, needed, read_effective, visibility
from collectors.sources.registry import SOURCES

log = logging.getLogger(__name__)

TTL_SECONDS = 3600.0
_cache: weakref.WeakKeyDictionary[Any, tuple[float, Effective | None]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def effective_for(client: Any) -> Effective | None:
    """The integration user's permissions (cached an hour per client), or None when unknown."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(client)
    if hit is not None and now - hit[0] < TTL_SECONDS:
        return hit[1]
    eff: Effective | None = None
    user_id = getattr(client.provider.token(), "user_id", None)
    if user_id:
        try:
            eff = read_effective(lambda soql: list(client.query(soql)), user_id, needed())
        except Exception:
            log.warning(
                "cannot read the integration user's permissions; visibility not checked", exc_info=True
            )
    with _lock:
        _cache[client] = (now, eff)
    return eff


def limited(client: Any, source: str) -> Visibility | None:
    """How ``source`` is limited for this client's user, or None (full view, or unknown)."""
    eff = effective_for(client)
    cls = SOURCES.get(source)
    return visibility(cls, eff) if eff is not None and cls is not None else None
