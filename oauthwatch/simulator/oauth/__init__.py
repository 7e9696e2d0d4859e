"""The org's OAuth endpoints: the token grants, authorize, revoke, introspect, userinfo and identity.

May import :mod:`~oauthwatch.simulator.data`, :mod:`~oauthwatch.simulator.generate` (the LoginHistory
row each token request leaves) and the shared request context and responses of
:mod:`~oauthwatch.simulator.api`.
"""
