"""Names from the org reach plotly as text, never as markup (issue: hardening, item 12).

plotly renders a subset of HTML in legends, category axes, pie labels and hover text (``<a href>``
included): an app, user or city called ``<a href=…>`` used to become a live link on the dashboard.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from dashboard import charts
from dashboard.ui import spike_target

EVIL = '<a href="https://evil.example/steal">Data Loader</a>'
T0 = pd.Timestamp("2026-03-02T10:00:00Z")


def _no_markup(values) -> None:
    for v in values:
        assert "<a" not in str(v), v
        assert "</a>" not in str(v), v


def test_legend_names_are_escaped_and_the_raw_name_kept_for_clicks() -> None:
    df = pd.DataFrame(
        {"hour": [T0, T0], "application": [EVIL, "Jenkins"], "events": [5, 3], "failures": [0, 1]}
    )
    fig = charts.daily_by(df, "application", "UTC")
    names = [t.name for t in fig.data]
    _no_markup(names)
    assert '&lt;a href="https://evil.example/steal"&gt;Data Loader&lt;/a&gt;' in names
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"x": "2026-03-02", "curve_number": 0}]))
    assert spike_target(fig, event, "UTC")["application"] == EVIL  # investigates the real app


def test_pie_labels_bars_and_series_are_escaped() -> None:
    flows = pd.DataFrame({"login_subtype": [EVIL, "OAuth Web Server"], "events": [4, 2]})
    pie = charts.share(flows, "login_subtype", "Flow mix")
    _no_markup(pie.data[0].labels)
    bar = charts.top_bar(
        pd.DataFrame({"who": [EVIL, "ann"], "failures": [3, 1]}), "who", "failures", "By user"
    )
    _no_markup(bar.data[0].y)
    usage = pd.DataFrame({"hour": [T0], "status_code": ["<b>200</b>"], "requests": [9]})
    _no_markup([t.name for t in charts.api_usage(usage, "UTC").data])
    stacked = charts.stacked_over_time(
        pd.DataFrame({"hour": [T0], "status": [EVIL], "events": [2]}), "status", "UTC", "Reasons"
    )
    _no_markup([t.name for t in stacked.data])


def test_hover_text_escapes_cities_and_audit_lines_but_keeps_its_own_breaks() -> None:
    ips = pd.DataFrame(
        {"source_ip": ["1.1.1.1"], "country": ["<i>Atlantis</i>"], "city": [EVIL], "latitude": [1.0],
         "longitude": [2.0], "events": [3], "failures": [1]}
    )  # fmt: skip
    text = charts.origins_map(ips).data[0].text[0]
    _no_markup([text])
    assert "<i>" not in text
    assert "<br>" in text  # our own line breaks stay markup
    tl = pd.DataFrame({"t": [T0], "events": [5], "failures": [1]})
    audit = pd.DataFrame({"created_date": [T0], "action": ["changedApp"], "display": [f"Renamed to {EVIL}"]})
    _no_markup(charts.timeline(tl, audit, "UTC").data[2].text)


def test_titles_are_escaped() -> None:
    fig = charts.api_usage(
        pd.DataFrame(columns=["hour", "status_code", "requests"]), "UTC", f"API usage of {EVIL}"
    )
    _no_markup([fig.layout.title.text])
