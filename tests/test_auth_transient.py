"""Transient token errors (Salesforce's ``retry_request``) are retried; permanent ones are not.

Against the local org over HTTPS, whose fault profile answers the token endpoint with the body a
real org sent (``{"error":"retry_request","error_description":"retry your request"}``).
"""

from __future__ import annotations

from typing import Any

import pytest
from simorg import make_local_org, org_template  # noqa: F401 - fixtures

from collectors.auth import AuthError, TokenProvider
from oauthwatch.config import OrgSettings


def settings(org: Any, **kw: Any) -> OrgSettings:
    c = org.creds
    return OrgSettings.model_validate(
        {
            "name": "acme",
            "login_url": c["login_url"],
            "flow": "jwt",
            "client_id": c["consumer_key"],
            "ca_bundle": c["ca_bundle"],
            "username": c["jwt_username"],
            "private_key_file": c["private_key_file"],
            **kw,
        }
    )


def injected(org: Any) -> int:
    return int(org.admin("health").json()["faults"]["injected"].get("oauth_retry", 0))


@pytest.fixture
def org(make_local_org):  # noqa: F811
    return make_local_org()


def provider(org: Any, **kw: Any) -> TokenProvider:
    p = TokenProvider(settings(org, **kw), timeout=30)
    p.retry_delays = (0.0, 0.0, 0.0)
    return p


def test_retry_request_is_retried_until_the_token_comes(org) -> None:
    # seed 7 and rate 0.5: the fault stream says fault, fault, then no fault (one draw per request)
    assert org.admin("faults", {"oauth_retry_rate": 0.5, "seed": 7}).status_code == 200
    tok = provider(org).token()
    assert tok.access_token
    assert injected(org) == 2


def test_retry_request_gives_up_after_the_last_attempt(org) -> None:
    assert org.admin("faults", {"oauth_retry_rate": 1.0}).status_code == 200
    with pytest.raises(AuthError) as err:
        provider(org).token()
    assert err.value.code == "retry_request"
    assert err.value.transient is True
    assert "retry" in err.value.cause
    assert injected(org) == 4  # the first attempt and three retries


def test_a_permanent_error_is_not_retried(org) -> None:
    p = provider(org, client_id="not-a-consumer-key")
    calls = []
    once = p._fetch_once

    def counted() -> Any:
        calls.append(1)
        return once()

    p._fetch_once = counted  # type: ignore[method-assign]
    with pytest.raises(AuthError) as err:
        p.token()
    assert err.value.code == "invalid_client_id"
    assert err.value.transient is False
    assert len(calls) == 1
