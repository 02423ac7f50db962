"""Charts for the CMR, computed here and drawn as SVG by the templates (macros.html.j2).

Every chart is a horizontal stacked bar chart: one row per metal or year, one segment per
category. The geometry (positions and widths in SVG user units) is computed in Python so the
templates only place shapes; each chart stands beside a table holding the same numbers
(Regulation S-T Rule 304(e): information must not appear only as an image).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

LABEL_WIDTH = 78.0
BAR_WIDTH = 360.0
TOTAL_WIDTH = 44.0
ROW_HEIGHT = 12.0
ROW_GAP = 5.0
TOP = 4.0
LEGEND_HEIGHT = 16.0
CHART_WIDTH = LABEL_WIDTH + BAR_WIDTH + TOTAL_WIDTH

STATUS_CLASSES = {
    "Conformant": "conformant",
    "Active": "active",
    "Non-Conformant": "non-conformant",
    "Not Enrolled": "not-enrolled",
    "Other": "other",
}


class FigureModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class Segment(FigureModel):
    category: str
    css_class: str
    value: int
    x: float
    width: float


class Row(FigureModel):
    label: str
    y: float
    segments: list[Segment]
    total_text: str


class LegendItem(FigureModel):
    category: str
    css_class: str
    x: float


class Chart(FigureModel):
    id: str
    title: str
    description: str
    width: float
    height: float
    label_width: float
    bar_right: float
    row_height: float
    rows: list[Row]
    legend: list[LegendItem]
    legend_y: float


def stacked_bars(
    chart_id: str,
    title: str,
    rows: list[tuple[str, list[int], str]],
    categories: list[tuple[str, str]],
    *,
    scale_to_row: bool = False,
) -> Chart:
    """rows: (label, one value per category, text after the bar); categories: (name, css class).

    Bars share one scale (the largest row total) unless `scale_to_row`, which draws every row
    at full width to show shares."""
    largest = max((sum(values) for _, values, _ in rows), default=0) or 1
    drawn = []
    for index, (label, values, total_text) in enumerate(rows):
        scale = BAR_WIDTH / ((sum(values) or 1) if scale_to_row else largest)
        x = LABEL_WIDTH
        segments = []
        for (name, css_class), value in zip(categories, values, strict=True):
            width = round(value * scale, 2)
            if value:
                segments.append(
                    Segment(category=name, css_class=css_class, value=value, x=round(x, 2), width=width)
                )
            x += width
        drawn.append(
            Row(label=label, y=TOP + index * (ROW_HEIGHT + ROW_GAP), segments=segments, total_text=total_text)
        )
    legend_y = TOP + len(rows) * (ROW_HEIGHT + ROW_GAP) + 4
    step = (CHART_WIDTH - LABEL_WIDTH) / max(len(categories), 1)
    legend = [
        LegendItem(category=name, css_class=css, x=round(LABEL_WIDTH + i * step, 2))
        for i, (name, css) in enumerate(categories)
    ]
    description = "; ".join(
        f"{label}: "
        + ", ".join(f"{name} {value}" for (name, _), value in zip(categories, values, strict=True))
        for label, values, _ in rows
    )
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        width=CHART_WIDTH,
        height=legend_y + LEGEND_HEIGHT,
        label_width=LABEL_WIDTH,
        bar_right=LABEL_WIDTH + BAR_WIDTH,
        row_height=ROW_HEIGHT,
        rows=drawn,
        legend=legend,
        legend_y=legend_y,
    )


def status_categories(statuses: list[str]) -> list[tuple[str, str]]:
    return [(status, STATUS_CLASSES.get(status, "other")) for status in statuses]
