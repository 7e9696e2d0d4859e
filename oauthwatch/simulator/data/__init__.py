"""The org's database: the sObject catalog and its schema, the SQLite file, the org clock, record Ids,
the security state the endpoints read (apps, users, tokens) and the Event Log Files rendered from it.

Imports nothing from the other simulator packages: everything else builds on it.
"""
