"""The HTML map is one self-contained file with the territory, overlap, gap and lead layers."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from shapely.geometry import box

from territory_router.territories.mapping import render_map_html
from territory_router.territories.report import ValidationOptions
from territory_router.territories.validate import validate_files


def _fc(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def _sq(tid, x, y, size=1.0, **props):
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {
        "type": "Feature",
        "properties": {"territory_id": tid, "name": f"Name {tid}", **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


class _Layers(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[str | None] = []
        self.children: dict[str, int] = {}
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        parent = self.stack[-1] if self.stack else None
        if parent:
            self.children[parent] = self.children.get(parent, 0) + 1
        self.stack.append(attrs.get("id") if tag == "g" else None)
        if tag == "g" and attrs.get("id"):
            self.children.setdefault(attrs["id"], 0)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.stack.pop()

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()


def test_map_has_every_layer_and_no_external_reference():
    data = _fc(_sq("A", 0, 0), _sq("B", 0.5, 0), _sq("C", 3, 3), _sq("D", 5, 0, 2))
    # D has a hole: an enclosed gap
    data = json.loads(data)
    data["features"][3]["geometry"]["coordinates"].append(
        [[5.5, 0.5], [6, 0.5], [6, 1], [5.5, 1], [5.5, 0.5]]
    )
    report = validate_files([("t.geojson", json.dumps(data).encode())])
    assert len(report.overlaps) == 1 and len(report.gaps) == 1
    html = render_map_html(report, leads=[(0.7, 0.5), (3.5, 3.5)], title="Test <map>")

    parser = _Layers()
    parser.feed(html)
    assert parser.children["territories"] == 4
    assert parser.children["overlaps"] == 1
    assert parser.children["gaps"] == 1
    assert parser.children["leads"] == 2
    assert parser.children["labels"] == 4
    assert "Test &lt;map&gt;" in html
    for tid in "ABCD":
        assert f"Name {tid}" in html
    # self-contained: the only URL is the SVG namespace; no scripts, no external resources
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "Content-Security-Policy" in html
    colours = {attrs["fill"] for tag, attrs in parser.tags if attrs.get("class") == "territory"}
    assert len(colours) == 4


def test_map_of_a_plain_territory_set_with_explicit_layers():
    report = validate_files([("t.geojson", _fc(_sq("A", 0, 0), _sq("B", 2, 0)))])
    coverage = box(-1, -1, 4, 2)
    gaps_report = validate_files(
        [("t.geojson", _fc(_sq("A", 0, 0), _sq("B", 2, 0)))], ValidationOptions(coverage=coverage)
    )
    html = render_map_html(report.territory_set, overlaps=[], gaps=gaps_report.gaps, title="")
    parser = _Layers()
    parser.feed(html)
    assert parser.children["overlaps"] == 0
    assert parser.children["gaps"] == len(gaps_report.gaps) == 1
    assert parser.children["leads"] == 0


def test_counties_map_stays_small_enough():
    from pathlib import Path

    counties = Path(__file__).resolve().parents[2] / "data" / "us_counties.geojson"
    report = validate_files([(counties.name, counties.read_bytes())], ValidationOptions(find_gaps=False))
    html = render_map_html(report)
    assert len(html) < 6_000_000
    assert html.count('class="territory"') == len(report.territories)


def _first_x(html: str, territory_id: str) -> float:
    match = re.search(rf'data-id="{territory_id}"[^>]* d="M([0-9.]+),', html)
    assert match, territory_id
    return float(match.group(1))


def test_us_map_wraps_the_pacific_so_guam_sits_west_of_hawaii():
    from pathlib import Path

    states = (
        Path(__file__).resolve().parents[3]
        / "tooling"
        / "territory_router_tools"
        / "data"
        / "us_states.geojson"
    )
    html = render_map_html(validate_files([(states.name, states.read_bytes())]))
    guam, hawaii, california, maine = (_first_x(html, tid) for tid in ("66", "15", "06", "23"))
    assert guam < hawaii < california < maine
    width = float(re.search(r'viewBox="0 0 ([0-9.]+) ([0-9.]+)"', html).group(1))
    assert california > 0.5 * width  # the lower 48 are not squeezed into a corner of a world map
