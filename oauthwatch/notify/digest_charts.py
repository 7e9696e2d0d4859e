"""The digest's charts as small PNGs (matplotlib, Agg), embedded in the email as ``cid:`` images.

Mail clients block remote images and scripts, so the charts are pictures carried inside the
message. Figures are built with the object API (no pyplot global state), which is safe inside the
service's threads and never opens a window.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from oauthwatch.notify.digest_data import DayCount, Ranked

OK_COLOUR = "#2f6fb3"
FAIL_COLOUR = "#c8402f"
BASE_COLOUR = "#b9c4d0"
_DPI = 100


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _label(name: str) -> str:
    """An app name as literal text: shortened, and ``$`` escaped so matplotlib draws no mathtext."""
    short = name if len(name) <= 32 else name[:31] + "…"
    return short.replace("$", r"\$")


def daily_chart(daily: list[DayCount]) -> bytes:
    """Stacked bars of successful and failed authentications for the baseline days and the day."""
    fig = Figure(figsize=(5.6, 2.2))
    ax = fig.add_subplot()
    labels = [d.day.strftime("%a %d") for d in daily]
    ok = [d.events - d.failures for d in daily]
    fail = [d.failures for d in daily]
    alpha = [0.55] * (len(daily) - 1) + [1.0]
    for i in range(len(labels)):
        ax.bar(i, ok[i], color=OK_COLOUR, alpha=alpha[i], label="succeeded" if i == 0 else None)
        ax.bar(
            i,
            fail[i],
            bottom=ok[i],
            color=FAIL_COLOUR,
            alpha=alpha[i],
            label="failed" if i == 0 else None,
        )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("authentications", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return _png(fig)


def apps_chart(apps: list[Ranked]) -> bytes:
    """Horizontal bars: each of the busiest apps on the day against its daily average before."""
    fig = Figure(figsize=(5.6, 0.5 + 0.38 * max(1, len(apps))))
    ax = fig.add_subplot()
    names = [_label(a.name) for a in apps][::-1]
    y = list(range(len(names)))
    ax.barh([v + 0.2 for v in y], [a.count for a in apps][::-1], height=0.4, color=OK_COLOUR, label="day")
    ax.barh(
        [v - 0.2 for v in y],
        [a.baseline_avg for a in apps][::-1],
        height=0.4,
        color=BASE_COLOUR,
        label="7-day avg",
    )
    ax.set_yticks(y, names)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _png(fig)
