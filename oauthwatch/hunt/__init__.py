"""IOC hunting: match a list of indicators (IPs, CIDRs, user agents, apps) against every stored event.

``oauthwatch hunt --ioc FILE`` searches all history once; saved lists (``[[hunt.lists]]``) are
matched against each new batch of events by the service and raise an alert on a hit.
"""
