"""Authentication to an org: the OAuth flows, their failure causes, keys, stored refresh tokens.

- :mod:`collectors.auth.provider`: the five flows → one cached access token per org;
- :mod:`collectors.auth.grants`: the token request each flow sends;
- :mod:`collectors.auth.causes`: an OAuth or REST refusal → a cause and the fix to apply;
- :mod:`collectors.auth.salesforce`: simple-salesforce built on the provider's token;
- :mod:`collectors.auth.webflow`: the browser sign-in of the web-server flow;
- :mod:`collectors.auth.keygen`: the JWT key pair and its certificate;
- :mod:`collectors.auth.tokens`: refresh tokens kept on disk, owner-only.

The names most callers need are re-exported here: ``from collectors.auth import provider_for``.
"""

from __future__ import annotations

from collectors.auth.provider import (
    LEGACY_FLOW_WARNING,
    AuthError,
    TimeoutSession,
    Token,
    TokenProvider,
    jwt_audience,
    parse_identity_url,
    provider_for,
    reset_providers,
    tls_error,
    token_from_response,
    unreachable_error,
)

__all__ = [
    "LEGACY_FLOW_WARNING",
    "AuthError",
    "TimeoutSession",
    "Token",
    "TokenProvider",
    "jwt_audience",
    "parse_identity_url",
    "provider_for",
    "reset_providers",
    "tls_error",
    "token_from_response",
    "unreachable_error",
]
