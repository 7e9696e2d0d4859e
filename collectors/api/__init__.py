"""The Salesforce API as the collectors use it: one client per org under one API budget.

- :mod:`collectors.api.client`: REST queries, paging, downloads and Bulk API 2.0, with typed errors;
- :mod:`collectors.api.budget`: the governor that reads ``Sforce-Limit-Info`` and stops in time.
"""
