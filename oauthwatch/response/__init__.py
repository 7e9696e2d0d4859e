"""Response: revoking an app's OAuth grants through Salesforce's documented revoke endpoint.

Off unless ``[response] allow_revoke = true``; every run (dry runs too) is recorded in the store
with who asked, when, which grant and Salesforce's answer (docs/incident-response.md).
"""
