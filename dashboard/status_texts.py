"""What each LoginHistory Status text means and how to fix it, in plain words.

Salesforce writes failure reasons as free text (the "Details" of the ELF LOGIN_STATUS codes), with
capitalisation that differs between sources (``Invalid Password`` vs ``Invalid password``), so
lookups are case-insensitive. Unknown texts get a generic explanation rather than nothing.
"""

from __future__ import annotations

STATUS_HELP: dict[str, tuple[str, str]] = {
    "success": ("The login succeeded.", "Nothing to fix."),
    "invalid password": (
        "The username was right but the password (or password + security token) was wrong.",
        "Check the integration's stored credential; rotate it if it leaked. Many of these from one IP "
        "for many users is a password spray: block the IP and look at the Alerts page.",
    ),
    "password lockout": (
        "Too many wrong passwords: Salesforce locked the user.",
        "Unlock the user in Setup → Users after fixing the stored password; find what kept retrying.",
    ),
    "user is inactive": (
        "The user the integration logs in as is deactivated.",
        "Reactivate the user, or move the integration to an active integration user and revoke the old grants.",
    ),
    "user is frozen": (
        "An admin froze the user, so every login is refused.",
        "Unfreeze the user in Setup → Users if the freeze was not deliberate.",
    ),
    "restricted ip": (
        "The login came from an IP outside the profile's Login IP Ranges.",
        "Add the integration's egress range to the profile, or set the Connected App's IP relaxation "
        "deliberately (prefer enforcing ranges over bypass).",
    ),
    "restricted time": (
        "The login came outside the profile's Login Hours.",
        "Widen the profile's login hours or move the job's schedule.",
    ),
    "restricted country": (
        "The login came from a country the org blocks.",
        "Check where the integration runs.",
    ),
    "failed: api security token required": (
        "A username-password login came from an untrusted network without the security token.",
        "Append the user's security token to the password, or (better) move to the JWT bearer flow.",
    ),
    "failed: computer activation required": (
        "The login came from an unrecognised device or network and needs verification.",
        "Add the network to trusted IP ranges or verify the device; integrations should use OAuth JWT.",
    ),
    "failed: oauth api access disabled": (
        "API access through OAuth is turned off for this user or org.",
        'Give the user\'s profile or permission set "API Enabled", and check the Connected App is enabled.',
    ),
    "failed: consumer deleted": (
        "The Connected App the client uses no longer exists.",
        "Point the integration at an existing Connected App (new consumer key) or stop the client.",
    ),
    "failed: get access token limit exceeded": (
        "The app asked for too many access tokens for the same user in a short time.",
        "Cache and reuse the access token until it expires instead of logging in per request.",
    ),
    "failed: invalid code challenge": (
        "The PKCE code_challenge sent to the authorize endpoint was malformed.",
        "Fix the client's PKCE implementation (S256 of the code_verifier, base64url without padding).",
    ),
    "failed: invalid code verifier": (
        "The PKCE code_verifier did not match the code_challenge of the authorization.",
        "Make the client send the same code_verifier it derived the challenge from.",
    ),
    "failed: device id missing or not registered": (
        "The device flow could not identify the device.",
        "Re-register the device and retry the device flow.",
    ),
    "failed: signature invalid": (
        "The JWT's signature did not verify against the Connected App's certificate.",
        "Upload the certificate matching the private key the client signs with, or fix the signing key.",
    ),
    "failed: ip address not allowed": (
        "The Connected App's IP policy refused the client's address.",
        "Add the client's egress range to the allowed ranges, or change the app's IP relaxation on purpose.",
    ),
    "failed: invalid nonce": (
        "The request's nonce was missing or wrong.",
        "Fix the client's nonce handling.",
    ),
    "failed: invalid timestamp": (
        "The JWT's exp/iat was out of range (often the client's clock is wrong).",
        "Sync the client's clock (NTP) and keep exp within 3 minutes of now.",
    ),
    "failed: invalid token": (
        "The refresh token or access token was revoked, expired or never valid.",
        "Re-authorize the app for that user; check the app's refresh token policy.",
    ),
    "failed: invalid verifier": ("The OAuth verifier did not match.", "Restart the authorization flow."),
    "failed: invalid callback url": (
        "The redirect_uri did not match the Connected App's callback URLs.",
        "Register the exact callback URL on the Connected App, or fix the client's redirect_uri.",
    ),
    "missing consumer key parameter": (
        "The request carried no client_id.",
        "Configure the client with the Connected App's consumer key.",
    ),
    "failed: nonce replay detected": (
        "The same nonce was used twice: a replay or a buggy retry.",
        "Investigate the source IP; make the client generate a fresh nonce each time.",
    ),
    "package for this consumer is not installed in your organization": (
        "The Connected App belongs to a package not installed in this org.",
        "Install the package, or use a Connected App created in this org.",
    ),
    "failed: unexpected parameter": (
        "The token request had a parameter the flow does not accept.",
        "Remove the extra parameter from the client's request.",
    ),
    "failed: api-only user": (
        "An API-only user tried to log in through the UI.",
        "Nothing to fix if it was a person testing; integrations should not use the UI.",
    ),
    "login rate exceeded": (
        "The user logged in too many times per hour.",
        "Reuse sessions/tokens instead of logging in per call.",
    ),
    "login invalid": (
        "Salesforce refused the login without a specific reason.",
        "Check the user, password and app.",
    ),
    "multi-factor (formerly called two-factor) is required": (
        "The user must complete MFA, which an integration cannot.",
        "Use a dedicated integration user with the API-only profile and OAuth JWT instead of a password login.",
    ),
    "lightning login required": ("The user must use Lightning Login.", "Use OAuth for integrations."),
    "failed: mobile license required": (
        "The user lacks the licence the mobile app needs.",
        "Assign the licence or stop the mobile login.",
    ),
}

GENERIC = (
    "Salesforce refused the login with this reason.",
    "Open Investigate with this status to see which app, user and IP it comes from.",
)


def explain(status: str) -> tuple[str, str]:
    """The (meaning, fix) for a Status text; a generic pair when it is not one we know."""
    return STATUS_HELP.get((status or "").strip().lower(), GENERIC)


# Which views each source can feed (docs/architecture.md, "Which views each source feeds"): not
# every source carries every column; the Collection page shows this table.
SOURCE_VIEWS: tuple[tuple[str, str, str], ...] = (
    ("login_history", "logins, failures, flows, origins; per-app logins and users", "—"),
    ("login_events", "logins, failures, flows, origins; per-app logins and users", "—"),
    ("event_log_files: Login (elf_login)", "logins, failures, flows, origins",
     "per-app logins: the Login file has no connected-app column"),
    ("event_log_files: ApiTotalUsage", "API usage per app (CONNECTED_APP_ID, CLIENT_NAME), data movement",
     "logins"),
    ("event_log_files: BulkApi2, BulkApi, RestApi, API (Event Monitoring)",
     "rows and bytes exported per app and user (data movement)", "logins"),
    ("oauth_tokens", "grants, users holding them, per-app grants", "logins"),
    ("connected_apps", "posture and policy per app, policy changes", "logins"),
    ("external_client_apps", "posture and policy per External Client App, policy changes", "logins"),
    ("setup_audit_trail", "audit trail per app", "logins"),
    ("org_limits", "the API budget (Collection page)", "logins"),
    ("bulk_jobs", "Bulk jobs and their rows per app (data movement), deleted jobs", "logins"),
)  # fmt: skip
ELF_LOGIN_NO_APP = (
    "This org's primary login source is the Event Log Files Login file, which has no connected-app "
    "column, so logins cannot be counted per app from it. Per-app logins and users need LoginHistory "
    "or LoginEvent as the primary login source (`primary_login_source`); API usage per app comes "
    "from ApiTotalUsage (tab API usage)."
)
