"""The local Salesforce org: an HTTPS server that answers like Salesforce over generated data.

It imports nothing from ``collectors/`` and the collectors import nothing from it: the wire is
the only contract (DESIGN §3).
"""
