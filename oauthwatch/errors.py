"""The product's own error types, in a module that imports nothing.

``ConfigError`` lives here (and is re-exported by ``oauthwatch.config``) so that the command's
entry point can catch it without loading pydantic before a verb needs the configuration. The CLI
turns a :class:`ConfigError` (and its subclasses) into one line and exit code 2, never a
traceback; the store and the configuration both raise them without importing each other.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, phrased for the person who has to fix the file."""


class StoreUnavailable(ConfigError):
    """The store cannot be opened: a URL of no supported kind, or a database that does not answer."""
