"""Origins: where logins come from on a map (offline geometry), by country and network; new origins."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters, threat, ui
from oauthwatch.store.queries import networks_by


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Origins")
    st.caption(ctx.label())
    if not ui.has_data(ctx):
        return
    apps = data.rollup(ctx.window, ("application",))
    app = (
        st.selectbox(
            "App",
            ["", *sorted(a for a in apps["application"] if a)],
            key="orig_app",
            format_func=lambda s: s or "All apps",
        )
        or None
    )
    ips = data.ips_by(ctx.window, app)
    if not ui.window_has_rows(ips, "logins with an origin", ctx):
        return
    ui.chart(charts.origins_map(ips), key="orig_map")
    countries = (
        ips.groupby(["country_iso", "country"], as_index=False, dropna=False)[["events", "failures"]]
        .sum()
        .sort_values("events", ascending=False)
    )
    countries["failure_rate"] = countries["failures"] / countries["events"]
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Countries")
        st.dataframe(countries, key="orig_countries", hide_index=True)
    with c2:
        st.subheader("Networks (/24, /48)")
        st.dataframe(networks_by(ips), key="orig_networks", hide_index=True)
    st.subheader("New origins")
    st.caption("Countries and IP addresses whose first login ever falls in this period.")
    new = data.new_origins(ctx.window)
    if ui.window_has_rows(new, "new origins", ctx):
        st.dataframe(new, key="orig_new", hide_index=True)
    st.subheader("IP addresses")
    st.caption("Network class: hosting (with provider), vpn, tor or other, from oauthwatch's offline ranges.")
    st.dataframe(
        threat.with_network_class(ips.drop(columns=["latitude", "longitude"])),
        key="orig_ips",
        hide_index=True,
        column_config={"failure_rate": st.column_config.NumberColumn(format="percent")},
    )


main()
