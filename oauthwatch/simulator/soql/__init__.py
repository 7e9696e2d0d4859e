"""SOQL as the local org speaks it: lexer, parser, compiler to SQLite, record shapes, and the query
service that runs and pages results.

Imports only :mod:`oauthwatch.simulator.data` (the catalog the compiler checks names against).
"""
