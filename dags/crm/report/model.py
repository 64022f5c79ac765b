"""What a report panel is: a chart, the sentence that reads it, and the table of numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go


class PanelUnavailable(Exception):
    """The data a panel needs is missing (e.g. the mart is not published yet)."""


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    reading: str
    figure: go.Figure | None
    table: pd.DataFrame
    note: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    panels: tuple[Panel, ...]
