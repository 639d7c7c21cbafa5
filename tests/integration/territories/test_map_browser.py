"""The territory map renders in headless Chromium: not blank, overlap layer present, no network needed.

The session fixture installs Debian's ``chromium`` when it is missing (apt-get, as root) and skips only when
that is impossible.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from territory_router.territories.mapping import render_map_html
from territory_router.territories.report import ValidationOptions
from territory_router.territories.validate import validate_files

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[3]
US_STATES = REPO / "tooling" / "territory_router_tools" / "data" / "us_states.geojson"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = _find_browser()
    if path:
        return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be installed here (no apt-get or not root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            check=True,
            capture_output=True,
            timeout=900,
            env=env,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"chromium could not be installed: {exc}")
    path = _find_browser()
    if not path:
        pytest.skip("chromium installed but not found on PATH")
    return path


def _run(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """A tiny PNG decoder (8-bit RGB/RGBA, non-interlaced): (width, height, rows of pixel bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            upleft = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(b for j, b in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def test_png_decoder_on_a_known_image():
    # 2x1 RGB: red, green; filter 1 (sub) on the row
    row = bytes([1, 255, 0, 0, (0 - 255) & 0xFF, 255, 0])
    ihdr = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row)) + chunk(b"IEND", b"")
    )
    assert decode_png(png) == (2, 1, [bytes([255, 0, 0, 0, 255, 0])])


def _sq(tid, x, y, size=1.0):
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {
        "type": "Feature",
        "properties": {"territory_id": tid},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_map_renders_in_headless_chromium(chromium, tmp_path):
    # the real US states plus two deliberately overlapping territories over Kansas/Colorado
    extra = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [_sq("plains-1", -103, 37, 3), _sq("plains-2", -101, 38, 3)],
        }
    )
    report = validate_files(
        [(US_STATES.name, US_STATES.read_bytes()), ("plains.geojson", extra.encode())],
        ValidationOptions(leads=((-100.5, 38.5), (-99.0, 40.0))),
    )
    assert report.overlaps
    html_path = tmp_path / "map.html"
    html_path.write_text(
        render_map_html(report, leads=[(-100.5, 38.5), (-99.0, 40.0)], title="US"), encoding="utf-8"
    )

    png_path = tmp_path / "map.png"
    _run(chromium, tmp_path, f"--screenshot={png_path}", "--window-size=1200,800", html_path.as_uri())
    width, height, rows = decode_png(png_path.read_bytes())
    assert (width, height) == (1200, 800)
    colours = set()
    for row in rows[::4]:
        for x in range(0, len(row), 3 * 4):
            colours.add(row[x : x + 3])
    assert len(colours) > 50, f"screenshot looks blank: {len(colours)} distinct colours"

    dom = _run(chromium, tmp_path, "--dump-dom", html_path.as_uri()).stdout.decode()
    start = dom.index('id="overlaps"')
    layer = dom[start : dom.index("</g>", start)]
    assert layer.count("<path") == len(report.overlaps) >= 1
    assert dom.count('class="territory"') == len(report.territories)
    leads_start = dom.index('id="leads"')
    assert dom[leads_start : dom.index("</g>", leads_start)].count("<circle") == 2
