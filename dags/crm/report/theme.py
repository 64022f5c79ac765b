"""One plotly look for every chart: a light template, a qualitative palette and shared sizing."""

from __future__ import annotations

import plotly.graph_objects as go

FONT = "Inter, 'Segoe UI', 'Noto Sans CJK TC', 'Noto Sans', Helvetica, Arial, sans-serif"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#2563eb"
POSITIVE = "#059669"
NEGATIVE = "#dc2626"
WARNING = "#d97706"
#: Colour-blind-safe qualitative palette (Okabe-Ito, reordered to start with blue).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SEQUENTIAL = "Blues"

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font={"family": FONT, "size": 12, "color": INK},
        colorway=PALETTE,
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 56, "r": 24, "t": 40, "b": 48},
        hoverlabel={"font": {"family": FONT}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        xaxis={"gridcolor": GRID, "linecolor": GRID, "zerolinecolor": GRID, "automargin": True},
        yaxis={"gridcolor": GRID, "linecolor": GRID, "zerolinecolor": GRID, "automargin": True},
    )
)

HEIGHT = 360


def styled(figure: go.Figure, *, height: int = HEIGHT) -> go.Figure:
    figure.update_layout(template=TEMPLATE, height=height)
    return figure
