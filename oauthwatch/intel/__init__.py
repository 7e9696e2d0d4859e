"""Offline network intelligence: which addresses are hosting/cloud (and whose), VPN exits or Tor exits.

The answer comes from a table that ships with the product (``data/networks.csv.gz``, sources and
licences in ``data/NOTICE.md``) plus whatever ranges the user loaded into the store from files
they downloaded (``oauthwatch intel update FILE…``). Nothing here touches the network.
"""

from oauthwatch.intel.networks import NetClass, NetworkIndex, classify_ips, network_index

__all__ = ["NetClass", "NetworkIndex", "classify_ips", "network_index"]
