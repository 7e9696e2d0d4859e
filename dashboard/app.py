"""The oauthwatch dashboard: a router (st.navigation) plus the shared sidebar (org, time range, zone).

Start it with ``oauthwatch dashboard``. Each page is a short file in ``pages/`` that reads through
``dashboard.data``; add a page by appending to :data:`PAGES` (section, file, title, icon, url path).
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, filters

PAGES: list[tuple[str, str, str, str, str]] = [
    ("Monitor", "pages/overview.py", "Overview", ":material/dashboard:", "overview"),
    ("Monitor", "pages/apps.py", "Apps", ":material/apps:", "apps"),
    ("Monitor", "pages/failures.py", "Failures", ":material/error:", "failures"),
    ("Monitor", "pages/origins.py", "Origins", ":material/public:", "origins"),
    ("Respond", "pages/alerts.py", "Alerts", ":material/notifications:", "alerts"),
    ("Respond", "pages/investigate.py", "Investigate", ":material/search:", "investigate"),
    ("Inventory", "pages/tokens.py", "Tokens", ":material/key:", "tokens"),
    ("Inventory", "pages/collection.py", "Collection", ":material/sync:", "collection"),
]


def navigation() -> dict[str, list[st.Page]]:
    """The pages grouped by section, the first one the default."""
    sections: dict[str, list[st.Page]] = {}
    for i, (section, path, title, icon, url) in enumerate(PAGES):
        sections.setdefault(section, []).append(
            st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
        )
    return sections


st.set_page_config(page_title="oauthwatch", page_icon=":material/shield:", layout="wide")
if auth.gate():
    nav = st.navigation(navigation())
    filters.sidebar()
    nav.run()
