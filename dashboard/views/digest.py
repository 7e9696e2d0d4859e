"""Digest: the daily email for one org and day, exactly as `oauthwatch digest --send` would send it."""

from __future__ import annotations

from datetime import date

import streamlit as st
import streamlit.components.v1 as components

from dashboard import data, filters, ui


@st.cache_data(ttl=data.TTL, show_spinner="Building the digest…")
def _digest(org: str, day: date) -> tuple[str, str, str]:
    """(subject, HTML with the charts embedded, plain text) of ``org``'s digest for ``day``."""
    from oauthwatch.notify.digest import build_digest

    d = build_digest(data.engine(), data.settings(), org, day)
    return d.subject, d.html_with_embedded_images(), d.text


@ui.page
def main() -> None:
    from oauthwatch.notify.digest_data import local_yesterday

    ctx = filters.current()
    st.title("Digest")
    settings = data.settings()
    configured = [o.name for o in settings.orgs]
    if not configured:
        st.info("The digest is built per org of the configuration: start the dashboard with `--config`.")
        return
    default = ctx.org if ctx.org in configured else configured[0]
    col1, col2 = st.columns(2)
    org = col1.selectbox("Org", configured, index=configured.index(default), key="digest_org")
    tz = settings.notify.digest_timezone
    day = col2.date_input(f"Day ({tz})", value=local_yesterday(tz), key="digest_day")
    subject, html, text = _digest(org, day)
    recipients = next(o.digest_to for o in settings.orgs if o.name == org) or settings.notify.email_to
    st.caption(
        f"Sent daily at {settings.notify.digest_time:%H:%M} {tz} to {', '.join(recipients) or 'nobody yet'} "
        "(set digest_to on the org or notify.email_to)."
    )
    st.text(f"Subject: {subject}")
    # The email's own HTML (escaped by its templates), isolated in an iframe as a mail client would.
    components.html(html, height=1400, scrolling=True)
    with st.expander("Plain-text part"):
        st.code(text, language=None)


main()
