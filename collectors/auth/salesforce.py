"""simple-salesforce on oauthwatch's session, including the Metadata API.

``Salesforce(session=…)`` uses the given session for REST, Bulk and login calls, but its Metadata
API client (zeep) opens a session of its own, which knows neither the org's CA bundle nor a
timeout. :class:`OrgSalesforce` hands zeep the same session, so ``sf.mdapi`` works against a
corporate TLS proxy or the local org exactly like the REST calls do.
"""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce


class OrgSalesforce(Salesforce):
    """A ``Salesforce`` whose ``mdapi`` shares the session (CA bundle, timeouts) of the REST calls."""

    @property
    def mdapi(self) -> Any:
        """The Metadata API client, its SOAP transport bound to this client's session."""
        api = Salesforce.mdapi.fget(self)  # type: ignore[attr-defined]
        client = api._client
        if getattr(client, "_oauthwatch_session", None) is not self.session:
            from zeep.transports import Transport

            client.transport = Transport(session=self.session)
            client._oauthwatch_session = self.session
        return api
