"""The oauthwatch dashboard: a router (st.navigation) plus the shared sidebar (org, time range, zone).

Start it with ``oauthwatch dashboard``. Each page is a short file in ``views/`` that reads through
``dashboard.data``; add a page by appending to :data:`PAGES` (section, file, title, icon, url path).
The folder is not called ``pages/``: a ``pages/`` folder beside the main script switches Streamlit to
its legacy multipage mode, which ignores ``st.navigation`` (and this file) when a page URL is opened.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import auth, filters

PAGES: list[tuple[str, str, str, str, str]] = [
    ("Monitor", "views/overview.py", "Overview", ":material/dashboard:", "overview"),
    ("Monitor", "views/apps.py", "Apps", ":material/apps:", "apps"),
    ("Monitor", "views/failures.py", "Failures", ":material/error:", "failures"),
    ("Monitor", "views/origins.py", "Origins", ":material/public:", "origins"),
    ("Respond", "views/alerts.py", "Alerts", ":material/notifications:", "alerts"),
    ("Respond", "views/investigate.py", "Investigate", ":material/search:", "investigate"),
    ("Respond", "views/digest.py", "Digest", ":material/mail:", "digest"),
    ("Inventory", "views/tokens.py", "Tokens", ":material/key:", "tokens"),
    ("Inventory", "views/collection.py", "Collection", ":material/sync:", "collection"),
]


def navigation() -> dict[str, list[st.Page]]:
    """The pages grouped by section.

    Every page has its own path (``/overview?org=…`` works, as digest and alert links need); the
    root URL is a hidden page that forwards to the first page with the query parameters kept,
    because Streamlit serves its default page only at the root.
    """
    sections: dict[str, list[st.Page]] = {}
    pages = []
    for section, path, title, icon, url in PAGES:
        page = st.Page(path, title=title, icon=icon, url_path=url)
        sections.setdefault(section, []).append(page)
        pages.append(page)

    def home() -> None:
        st.switch_page(pages[0], query_params=st.query_params.to_dict())

    sections[PAGES[0][0]].insert(
        0, st.Page(home, title="Home", url_path="home", default=True, visibility="hidden")
    )
    return sections


# A local icon: a Material or emoji icon would be fetched from the internet by the browser.
st.set_page_config(
    page_title="oauthwatch", page_icon=str(Path(__file__).with_name("static") / "favicon.png"), layout="wide"
)
if auth.gate():
    nav = st.navigation(navigation())
    filters.sidebar()
    nav.run()
