"""The local Salesforce org: an HTTPS server that answers like Salesforce over generated data.

It imports nothing from ``collectors/`` and the collectors import nothing from it: the wire is
the only contract.

Packages, each importing only those listed before it:

- ``data``: the sObject catalog, the org's SQLite database, clock, Ids, security state, Event Log Files;
- ``soql``: parse, check and compile SOQL, run and page queries;
- ``generate``: the seeded org plan, traffic model, history builder, live ticker, incidents, scenarios;
- ``api``: REST, Bulk 2.0, Metadata, admin endpoints and their shared request context;
- ``oauth``: the token grants and the OAuth endpoints around them.

Top-level modules assemble a running org: ``server`` (the route table), ``tls`` (its certificate
authority) and ``credentials`` (what a client needs to connect).
"""
