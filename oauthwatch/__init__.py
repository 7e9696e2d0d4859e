"""oauthwatch: a monitor for Salesforce Connected App OAuth usage.

Collectors (``collectors/``) pull what the org records about OAuth logins and grants into the
store (``oauthwatch.store``); detectors (``oauthwatch.detect``) explain what changed; the
dashboard (``dashboard/``), alerts and the daily digest (``oauthwatch.notify``) show it.
"""

from __future__ import annotations

__version__ = "0.1.0"
