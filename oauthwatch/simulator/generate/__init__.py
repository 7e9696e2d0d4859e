"""What fills the org database: the seeded plan of users and apps, the login traffic model, the
history builder, the live ticker, staged incidents and scenarios.

Imports only :mod:`oauthwatch.simulator.data`; the HTTP side calls in (token requests log their
LoginHistory row through :mod:`oauthwatch.simulator.generate.logins`), never the other way round.
"""
