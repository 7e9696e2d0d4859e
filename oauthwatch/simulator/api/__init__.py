"""The org's HTTP endpoints other than OAuth: REST (query, describe, limits, event log files), Bulk
API 2.0, the Metadata SOAP calls, the admin endpoints, and what they share (request context,
response shapes, API budget, fault injection, page pipeline).

May import :mod:`~oauthwatch.simulator.data`, :mod:`~oauthwatch.simulator.soql` and
:mod:`~oauthwatch.simulator.generate`; never :mod:`~oauthwatch.simulator.oauth`.
"""
