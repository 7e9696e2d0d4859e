"""What a client needs to reach the local org: ``credentials.json`` and a ready ``oauthwatch.toml``.

``credentials.json`` is written atomically and only once the server listens, so a harness that
waits for the file can connect at once. It holds the org's secrets in clear on purpose (it is the
test org's "Setup" page); the generated ``oauthwatch.toml`` never does: it references the client
secret through ``client_secret_file`` and the JWT key through ``private_key_file``, inside DIR.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthwatch.simulator.data import sessions

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext
    from oauthwatch.simulator.tls import TlsFiles

CREDENTIALS = "credentials.json"
CONFIG = "oauthwatch.toml"
SECRET_FILE = "client_secret.txt"  # noqa: S105 - a file name


def write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def org_credentials(ctx: OrgContext, tls: TlsFiles) -> dict[str, Any]:
    """The credentials of the app oauthwatch uses (``_AppConfig.Kind = 'oauthwatch'``) and its users."""
    from oauthwatch.simulator.generate.build import org_facts

    facts = org_facts(ctx.conn)
    app = sessions.app_by_key(ctx.conn, facts["consumer_key"])
    if app is None:
        raise RuntimeError("the org has no app with Kind='oauthwatch'; rebuild the state folder")
    secret_row = sessions.one(
        ctx.conn,
        'SELECT s.SecurityToken FROM _UserSecret s JOIN "User" u ON u.Id = s.UserId WHERE u.Username = ?',
        (facts["username"],),
    )
    state = ctx.state_dir.resolve()
    return {
        "login_url": ctx.base_url,
        "instance_url": ctx.base_url,
        "org_id": ctx.org_id,
        "ca_bundle": str(tls.ca_cert.resolve()),
        "consumer_key": app["ConsumerKey"],
        "client_secret": app["ConsumerSecret"],
        "callback_url": (app["CallbackUrl"] or "").splitlines()[0] if app["CallbackUrl"] else None,
        "app_label": app["Label"],
        "private_key_file": str(state / facts["private_key_file"]),
        "certificate_file": str(state / facts["certificate_file"]),
        "jwt_username": facts["jwt_username"],
        "username": facts["username"],
        "password": facts["password"],
        "security_token": secret_row["SecurityToken"] if secret_row else None,
        "admin_url": f"{ctx.base_url}/_admin",
        "admin_token": ctx.admin_token,
        "db_path": str(ctx.db_path.resolve()),
    }


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def config_text(creds: dict[str, Any]) -> str:
    """A ready oauthwatch configuration for this org (JWT bearer, store inside the state folder)."""
    state = Path(creds["db_path"]).parent
    key = Path(creds["private_key_file"])
    key_ref = key.name if key.parent == state else str(key)
    return (
        "# Written by `oauthwatch simulate`: connects oauthwatch to the local org in this folder.\n"
        "[store]\n"
        'url = "sqlite:///oauthwatch.db"\n\n'
        "[[orgs]]\n"
        'name = "local"\n'
        f"login_url = {_toml_str(creds['login_url'])}\n"
        'flow = "jwt"\n'
        f"client_id = {_toml_str(creds['consumer_key'])}\n"
        f"username = {_toml_str(creds['jwt_username'] or '')}\n"
        f"private_key_file = {_toml_str(key_ref)}\n"
        f'client_secret_file = "{SECRET_FILE}"\n'
        'ca_bundle = "ca.pem"\n'
    )


def write_all(ctx: OrgContext, tls: TlsFiles) -> dict[str, Any]:
    """Write the secret file and config first, then ``credentials.json`` (the "ready" signal)."""
    creds = org_credentials(ctx, tls)
    write_private(ctx.state_dir / SECRET_FILE, creds["client_secret"] + "\n")
    (ctx.state_dir / CONFIG).write_text(config_text(creds))
    write_private(ctx.state_dir / CREDENTIALS, json.dumps(creds, indent=2) + "\n")
    return creds


def banner(creds: dict[str, Any]) -> str:
    """How to reach the org, for the terminal (no secrets printed)."""
    state = Path(creds["db_path"]).parent
    return "\n".join(
        [
            f"local Salesforce org {creds['org_id']} listening on {creds['instance_url']}",
            f"  login/instance URL : {creds['login_url']}",
            f"  CA bundle          : {creds['ca_bundle']}",
            f"  consumer key       : {creds['consumer_key']}",
            f"  JWT user           : {creds['jwt_username']}  (key {creds['private_key_file']})",
            f"  secrets            : {state / CREDENTIALS}",
            f"  oauthwatch config  : {state / CONFIG}   (oauthwatch --config {state / CONFIG} check)",
            "  requests/simple-salesforce: session.verify = the CA bundle (and session.trust_env = False",
            "  if REQUESTS_CA_BUNDLE is set: requests lets that variable override session.verify).",
            "  Ctrl-C stops it.",
        ]
    )
