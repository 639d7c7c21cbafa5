"""The report renders in headless Chromium: not blank, both maps, every chart and both tables in the DOM.

Reuses the Chromium fixture (installs Debian's chromium when possible, else skips) and the PNG decoder of the
territory map browser test.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from territory_router.territories.report import ValidationOptions
from territory_router.territories.validate import validate_files
from territory_router_tools.reporting.model import RepInfo, build_report
from territory_router_tools.reporting.run import write_report

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "tooling/territory_router_tools/data/sample_territories.geojson"


def _map_browser_module():
    path = REPO / "tests/integration/territories/test_map_browser.py"
    name = "report_browser_helpers_map_browser"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


_helpers = _map_browser_module()
chromium = _helpers.chromium  # the session fixture, shared
decode_png = _helpers.decode_png
run_browser = _helpers._run


def _report(tmp_path: Path) -> Path:
    territories = list(validate_files([(SAMPLE.name, SAMPLE.read_bytes())], ValidationOptions()).territories)
    items = []
    for d, day in enumerate(["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"]):
        for i, t in enumerate(territories):
            items.append({"pk": f"AGG#{day}", "sk": f"TERRITORY#{t.territory_id}", "assigned": 5 + 3 * i + d,
                          "sla_breaches": (i * d) % 4, "ttft_sum_s": 600 * (i + 1) * (d + 2), "ttft_count": d + 2})
    reps = [RepInfo(f"0050000000000{n:02d}AAA", f"Rep {n}", capacity=20, open_leads=n) for n in range(1, 9)]
    model = build_report(items, start=date(2026, 11, 22), end=date(2026, 11, 28), territories=territories, reps=reps,
                         generated_at=datetime(2026, 11, 28, 18, tzinfo=UTC), territory_version="sample")
    return write_report(model, tmp_path / "report"), len(territories)


def test_report_renders_in_headless_chromium(chromium, tmp_path):
    page, n_territories = _report(tmp_path)
    png = tmp_path / "report.png"
    run_browser(chromium, tmp_path, f"--screenshot={png}", "--window-size=1280,1400", "--hide-scrollbars", page.as_uri())
    width, height, rows = decode_png(png.read_bytes())
    assert (width, height) == (1280, 1400)
    colours = set()
    for row in rows[::4]:
        for x in range(0, len(row), 3 * 4):
            colours.add(row[x : x + 3])
    assert len(colours) > 50, f"screenshot looks blank: {len(colours)} distinct colours"

    dom = run_browser(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout.decode()
    for element in ("map-volume", "map-breaches", "chart-volume", "chart-ttft", "chart-rep-load", "table-territories",
                    "table-reps"):
        assert f'id="{element}"' in dom, element

    def section(element: str) -> str:
        start = dom.index(f'id="{element}"')
        return dom[start : dom.index("</svg>", start)]

    for map_id in ("map-volume", "map-breaches"):
        assert len(set(re.findall(r'class="territory" data-id="([^"]+)"', section(map_id)))) == n_territories
    series = min(n_territories, 8) + (1 if n_territories > 8 else 0)  # the top eight, then "other"
    assert section("chart-volume").count('class="bar"') == 5 * series  # five days with leads
    assert section("chart-ttft").count("<polyline") == min(n_territories, 8)
    assert section("chart-rep-load").count('class="bar"') == 8
