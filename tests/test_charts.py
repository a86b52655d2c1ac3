"""The admin's SVG line charts: scale, gaps, escaping, accessible names."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from django_multipay import charts

DAYS = [date(2026, 12, 1) + timedelta(days=n) for n in range(5)]
SVG = "{http://www.w3.org/2000/svg}"


def draw(series, **kwargs) -> ElementTree.Element:
    svg = charts.line_chart(
        chart_id="c",
        title="Paid <per> day",
        description="One line & its table",
        days=DAYS,
        series=series,
        y_label=lambda value: f"{value:g}",
        **kwargs,
    )
    return ElementTree.fromstring(str(svg))


def test_names_scale_and_text_are_escaped():
    root = draw([charts.Series("a<b>", {DAYS[0]: Decimal("30"), DAYS[4]: Decimal("180")})])
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{SVG}title").text == "Paid <per> day"
    assert root.find(f"{SVG}desc").text == "One line & its table"
    # The scale tops at the round number above the largest value: 0, 50, 100, 150, 200.
    labels = [t.text for t in root.iter(f"{SVG}text")][:5]
    assert labels == ["0", "50", "100", "150", "200"]
    (line,) = root.iter(f"{SVG}polyline")
    assert line.find(f"{SVG}title").text == "a<b>"
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(points) == 5  # missing days drawn at 0
    assert points[0][1] > points[4][1]  # 30 is lower than 180


def test_with_gaps_a_missing_day_breaks_the_line():
    values = {DAYS[0]: 0.5, DAYS[1]: 0.25, DAYS[3]: 1.0, DAYS[4]: 0.75}
    root = draw([charts.Series("x", values)], gaps=True, y_max=1.0)
    runs = [len(line.get("points").split()) for line in root.iter(f"{SVG}polyline")]
    assert runs == [2, 2]
    assert len(list(root.iter(f"{SVG}circle"))) == 4


def test_colours_come_from_css_classes_only():
    root = draw([charts.Series(str(n), {DAYS[0]: n}) for n in range(10)])
    classes = [line.get("class") for line in root.iter(f"{SVG}polyline")]
    assert classes[:2] == ["mp-line mp-series-0", "mp-line mp-series-1"]
    # Past the palette, series share its last colour.
    assert classes[7:] == ["mp-line mp-series-7"] * 3
    assert not re.search(r"fill=|stroke=|#[0-9a-f]{6}", ElementTree.tostring(root).decode())
