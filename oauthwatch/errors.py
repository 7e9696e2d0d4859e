"""The product's own error types, in a module that imports nothing.

``ConfigError`` lives here (and is re-exported by ``oauthwatch.config``) so that the command's
entry point can catch it without loading pydantic before a verb needs the configuration.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, phrased for the person who has to fix the file."""
