"""The territory editor in headless Chromium, driven as a person would: real mouse events through the DevTools
protocol (over ``--remote-debugging-pipe``, no extra package). Load the page, pick a territory, click a block,
lasso three more, export, and re-validate the exported CSV with ``territories validate``.

Reuses the Chromium fixture of the map browser test (installs Debian's chromium when possible, else skips).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from territory_router.territories import blocks
from territory_router_tools.cli.main import main as cli

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[3]
ZIPS = REPO / "tooling/territory_router_tools/data/us_zip_sample.csv"


def _map_browser_module():
    path = REPO / "tests/integration/territories/test_map_browser.py"
    name = "editor_browser_helpers_map_browser"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


_helpers = _map_browser_module()
chromium = _helpers.chromium
decode_png = _helpers.decode_png


class DevTools:
    """A minimal Chrome DevTools Protocol client over the browser's debugging pipe (fd 3 in, fd 4 out)."""

    def __init__(self, browser: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def plumb() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(resp_w, 4)

        self.proc = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900", "about:blank"],
            pass_fds=(3, 4), preexec_fn=plumb, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(cmd_r)
        os.close(resp_w)
        self._buffer = b""
        self._id = 0
        self.session: str | None = None

    def send(self, method: str, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._resp_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("browser closed the debugging pipe")
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url=url)["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for _ in range(200):
            if self.eval("document.readyState") == "complete" and self.eval("!!document.getElementById('cv')"):
                return
            self.eval("new Promise(r => setTimeout(r, 50))", wait=True)
        raise RuntimeError("the editor did not load")

    def eval(self, expression: str, wait: bool = False):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, modifiers: int = 0, buttons: int = 1) -> None:
        params = {"type": kind, "x": x, "y": y, "modifiers": modifiers, "button": "left", "clickCount": 1}
        if kind == "mouseMoved":
            params["buttons"] = buttons
        self.send("Input.dispatchMouseEvent", **params)

    def click(self, x: float, y: float) -> None:
        self.mouse("mousePressed", x, y)
        self.mouse("mouseReleased", x, y)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self._cmd_w)
        os.close(self._resp_r)


def _block_point(dt: DevTools, block_id: str) -> tuple[float, float]:
    """Client coordinates of a block's inside point (its data-x/data-y in map units)."""
    return tuple(dt.eval(f"""(() => {{
        const p = document.querySelector('#blocks .block[data-id="{block_id}"]');
        const pt = document.getElementById('map').createSVGPoint();
        pt.x = +p.dataset.x; pt.y = +p.dataset.y;
        const c = pt.matrixTransform(p.getScreenCTM());
        return [c.x, c.y];
    }})()"""))


def _row_point(dt: DevTools, territory_id: str) -> tuple[float, float]:
    return tuple(dt.eval(f"""(() => {{
        const r = document.querySelector('tr[data-territory="{territory_id}"]').getBoundingClientRect();
        return [r.x + r.width / 2, r.y + r.height / 2];
    }})()"""))


@pytest.fixture()
def editor_inputs(tmp_path):
    cat = blocks.catalog()
    rows = ["territory_id,territory_name,block_type,block_id"]
    for fips in cat.by_state["CO"]:
        side = "co-west" if cat.counties[fips].geometry.centroid.x < -105.2 else "co-east"
        rows.append(f"{side},Colorado {side[3:]},county,{fips}")
    rows += [f"utah,Utah,county,{fips}" for fips in cat.by_state["UT"]]
    territories = tmp_path / "set.csv"
    territories.write_text("\n".join(rows) + "\n")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Id", "Latitude", "Longitude", "PostalCode"])
    for n, z in enumerate(csv.DictReader(io.StringIO(ZIPS.read_text()))):
        if z["state"] in ("CO", "UT"):
            writer.writerow([f"L{n}", z["lat"], z["lon"], z["zip_code"]])
    leads = tmp_path / "leads.csv"
    leads.write_text(out.getvalue())
    return territories, leads


def test_editor_moves_blocks_and_exports_a_csv_that_validates(chromium, tmp_path, editor_inputs, capsys):
    territories, leads = editor_inputs
    page = tmp_path / "editor.html"
    assert cli(["territories", "edit", str(territories), "--leads", str(leads), "-o", str(page)]) == 0
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html

    dt = DevTools(chromium, tmp_path / "profile")
    try:
        dt.open(page.as_uri())
        assert dt.eval("document.querySelectorAll('#blocks .block').length") == 64 + 29  # CO and UT counties
        assert dt.eval("document.querySelectorAll('.context-state').length") >= 4  # context: neighbouring states
        cv_before = float(dt.eval("document.getElementById('cv').textContent"))
        utah_before = dt.eval("document.querySelector('tr[data-territory=\"utah\"] td:nth-child(3)').textContent")

        # pick "utah" in the panel, then click Mesa County (08077, Grand Junction) on the map
        dt.click(*_row_point(dt, "utah"))
        assert dt.eval("document.querySelector('tr.sel').dataset.territory") == "utah"
        dt.click(*_block_point(dt, "08077"))
        assert dt.eval("document.getElementById('changes').textContent").startswith("1 block moved")
        cv_after = float(dt.eval("document.getElementById('cv').textContent"))
        assert cv_after != cv_before
        utah_after = dt.eval("document.querySelector('tr[data-territory=\"utah\"] td:nth-child(3)').textContent")
        assert int(utah_after.replace(",", "")) > int(utah_before.replace(",", ""))

        # Shift + drag a lasso around three more western Colorado counties: Moffat, Rio Blanco, Garfield
        points = [_block_point(dt, f) for f in ("08081", "08103", "08045")]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ring = [(min(xs) - 4, min(ys) - 4), (max(xs) + 4, min(ys) - 4), (max(xs) + 4, max(ys) + 4),
                (min(xs) - 4, max(ys) + 4)]  # fmt: skip
        dt.mouse("mousePressed", *ring[0], modifiers=8)
        for x, y in [*ring[1:], ring[0]]:
            dt.mouse("mouseMoved", x, y, modifiers=8)
        dt.mouse("mouseReleased", *ring[0], modifiers=8)
        moved = dt.eval("document.getElementById('changes').textContent")
        assert moved.startswith("4 blocks moved"), moved

        dt.click(*_row_point(dt, "utah"))  # the panel stays usable after a lasso
        x, y = tuple(dt.eval("(() => { const r = document.getElementById('export').getBoundingClientRect(); "
                             "return [r.x + r.width / 2, r.y + r.height / 2]; })()"))  # fmt: skip
        dt.click(x, y)
        exported = dt.eval("document.getElementById('export-csv').value")
        shot = dt.send("Page.captureScreenshot", format="png")["data"]
    finally:
        dt.close()

    import base64

    width, height, rows = decode_png(base64.b64decode(shot))
    assert len({row[x : x + 3] for row in rows[::8] for x in range(0, len(row), 24)}) > 40, "screenshot looks blank"

    table = list(csv.DictReader(io.StringIO(exported)))
    assert len(table) == 64 + 29
    owner = {r["block_id"]: r["territory_id"] for r in table}
    assert {owner[f] for f in ("08077", "08081", "08103", "08045")} == {"utah"}
    assert {r["block_type"] for r in table} == {"county"}
    out = tmp_path / "exported.csv"
    out.write_text(exported)
    capsys.readouterr()
    assert cli(["territories", "validate", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("VALID: 3 territories, 0 errors")
