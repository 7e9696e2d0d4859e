"""Verbs for connecting orgs: ``check`` (doctor), ``keygen`` (JWT key pair), ``login`` (web flow).

Exit codes follow one rule for all three: 0 done/healthy, 1 problems found (``check``) or the org
refused (``login``), 2 cannot run (configuration, files, ports).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, OneOrgOpt, OrgOpt, VerboseOpt

if TYPE_CHECKING:
    from collectors.doctor import OrgReport
    from oauthwatch.config import OrgSettings


app = typer.Typer()


class CheckFormat(StrEnum):
    """How check prints its report."""

    table = "table"
    json = "json"


_MARK = {"problem": "✗ problem", "warning": "! warning", "info": "· info"}
_STATUS = {"healthy": "HEALTHY", "warnings": "OK, WITH WARNINGS", "problems": "PROBLEMS FOUND"}


def render_table(reports: list[OrgReport]) -> str:
    """The human report: one block per org, facts then findings with their fixes."""
    lines: list[str] = []
    for r in reports:
        f = r.facts
        lines.append(f"org {r.org}: {_STATUS[r.status]}  ({r.flow} flow via {r.login_url})")
        if r.connected:
            tok = f.get("token", {})
            usage = f.get("api_usage")
            rows = [
                ("org id", f.get("org_id") or f.get("organization_id")),
                ("user", f"{f.get('username') or '?'} ({f.get('user_id')})"),
                ("instance", f.get("instance_url")),
                (
                    "API version",
                    f"{f.get('api_version')}"
                    + (
                        f" (the org offers up to {f['latest_api_version']})"
                        if f.get("latest_api_version")
                        else ""
                    ),
                ),
                ("granted scopes", " ".join(f.get("scopes") or []) or f.get("scopes_note", "")),
                (
                    "API usage",
                    f"{usage['used']}/{usage['max']} today ({usage['share']:.1%})" if usage else None,
                ),
                ("Sforce-Limit-Info", f.get("sforce_limit_info")),
                (
                    "sources readable",
                    ", ".join(
                        f"{k} {'✓' if v == 'ok' else '✗ ' + v}" for k, v in (f.get("sources") or {}).items()
                    ),
                ),
                (
                    "token",
                    f"issued {tok.get('issued_at')}"
                    + (f", expires {tok['expires_at']}" if tok.get("expires_at") else "")
                    + f", response keys: {', '.join(tok.get('response_keys', []))} (value never shown)",
                ),
            ]
            lines.extend(f"  {k:<18} {v}" for k, v in rows if v not in (None, ""))
            app = f.get("app") or {}
            if app:
                lines.append(f"  {'app':<18} {app.get('label') or app.get('name') or '?'}")
                for k, v in app.items():
                    if v in (None, "", []) or k in ("label", "name"):
                        continue
                    shown = "; ".join(map(str, v)) if isinstance(v, list) else v
                    lines.append(f"    {k.replace('_', ' '):<24} {shown}")
        elif f.get("org_said"):
            lines.append(f"  {'the org said':<18} {f['org_said']}")
        for finding in r.findings:
            lines.append(f"  {_MARK.get(finding.severity, finding.severity)}: {finding.cause}")
            if finding.fix:
                lines.append(f"      fix: {finding.fix}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _redact_values(value: Any) -> Any:
    """Redact every string value of a JSON document, never its keys (a key like ``"code"`` would
    otherwise look like a ``code=…`` secret to the pattern matcher)."""
    from oauthwatch.secrets import redact

    if isinstance(value, dict):
        return {k: _redact_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v) for v in value]
    return redact(value) if isinstance(value, str) else value


@app.command("check")
def check(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="table or json")] = CheckFormat.table,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 on warnings too")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Authenticate to each org, call limits and userinfo, and judge oauthwatch's Connected App.

    Exit 0 healthy, 1 problems found, 2 cannot run."""
    from collectors.doctor import check_all, exit_code
    from oauthwatch.secrets import redact

    settings = runtime(ctx).settings
    orgs = settings.selected_orgs(org)
    if not orgs:
        typer.echo("no orgs configured: add an [[orgs]] entry (see docs/connect.md)", err=True)
        raise typer.Exit(2)
    reports = check_all(orgs, timeout=settings.collect.request_timeout_seconds)
    code = exit_code(reports, strict=strict)
    if fmt is CheckFormat.json:
        doc = _redact_values({"exit_code": code, "orgs": [r.as_dict() for r in reports]})
        out = json.dumps(doc, indent=2, default=str) + "\n"
    else:
        out = redact(render_table(reports))
    typer.echo(out, nl=False)
    raise typer.Exit(code)


@app.command("keygen")
def keygen(
    ctx: typer.Context,
    org: OneOrgOpt,
    config_path: ConfigOpt = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="certificate validity")] = 730,
    force: Annotated[bool, typer.Option("--force", help="replace an existing key and certificate")] = False,
    package: Annotated[
        Path | None,
        typer.Option(
            "--package",
            help="also write a deployable External Client App and permission set for oauthwatch to DIR",
            metavar="DIR",
        ),
    ] = None,
    contact_email: Annotated[
        str | None, typer.Option("--contact-email", help="the app's contact (required with --package)")
    ] = None,
) -> None:
    """Make the JWT bearer key pair: a private key (mode 0600) and the certificate to upload; with
    --package, the External Client App that carries the certificate, ready to deploy."""
    from collectors.auth.keygen import UPLOAD_HINT, KeygenError, generate, key_paths

    settings = runtime(ctx).settings
    org_settings = settings.org(org)
    if package is not None and not contact_email:
        typer.echo("keygen: --package needs --contact-email (the app's admin contact)", err=True)
        raise typer.Exit(2)
    try:
        cert_file = key_paths(org_settings)[1]
        reuse = package is not None and cert_file.is_file() and not force
        pair = None if reuse else generate(org_settings, days=days, force=force)
    except KeygenError as exc:
        typer.echo(f"keygen: {exc}", err=True)
        raise typer.Exit(2) from None
    if pair is not None:
        typer.echo(f"private key  {pair.private_key_file}  (mode 0600; never leaves this machine)")
        typer.echo(f"certificate  {pair.certificate_file}")
        typer.echo(f"expires      {pair.not_after:%Y-%m-%d %H:%M} UTC ({days} days): renew before then")
        typer.echo(f"sha256       {pair.fingerprint_sha256}")
    else:
        typer.echo(f"certificate  {cert_file}  (existing; pass --force for a new key pair)")
    if package is None:
        typer.echo("\nUpload the certificate: " + UPLOAD_HINT.format(cert=cert_file))
        typer.echo(f"Then run: oauthwatch check --org {org}")
        return
    _write_package(package, org_settings, cert_file, contact_email or "")


def _write_package(root: Path, org: OrgSettings, cert_file: Path, contact_email: str) -> None:
    from collectors.doctor.eca_package import PackageError, write_package

    try:
        pkg = write_package(root, org, cert_file, contact_email)
    except PackageError as exc:
        typer.echo(f"keygen: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"\npackage      {pkg.root}  ({len(pkg.files)} files)")
    typer.echo(f"scopes       {', '.join(pkg.scopes)}")
    typer.echo(f"permissions  {', '.join(pkg.permissions)}")
    typer.echo(
        f"Deploy it:   cd {pkg.root} && sf project deploy start --source-dir force-app --target-org <alias>\n"
        "Then assign the OAuthwatch_Integration permission set to the integration user, copy the app's "
        "consumer key (Setup → External Client App Manager → OAuthwatch → Settings → OAuth Settings → "
        f"Consumer Key and Secret) into client_id, and run: oauthwatch check --org {org.name}"
    )


@app.command("login")
def login(
    ctx: typer.Context,
    org: OneOrgOpt,
    config_path: ConfigOpt = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="only print the URL, do not open a browser")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for the browser")] = 300.0,
    verbose: VerboseOpt = False,
) -> None:
    """Authorize oauthwatch in a browser (web server flow + PKCE) and store the refresh token."""
    from collectors.auth import AuthError
    from collectors.auth.webflow import login as web_login

    target = runtime(ctx).settings.org(org)
    if target.flow not in ("web_server", "refresh_token"):
        typer.echo(
            f"note: org {org} uses the {target.flow} flow, which does not use the stored refresh "
            'token; set flow = "refresh_token" (or "web_server") to use it',
            err=True,
        )
    try:
        result = web_login(target, open_browser=not no_browser, timeout=timeout, say=typer.echo)
    except AuthError as exc:
        typer.echo(f"login failed: {exc}", err=True)
        raise typer.Exit(2 if exc.code in ("callback_port", "redirect_uri") else 1) from None
    typer.echo(
        f"Authorized as user {result.token.user_id} of org {result.token.org_id}. The refresh token is "
        f"stored in {result.refresh_token_file} (mode 0600); oauthwatch uses it from now on."
    )
