"""report.html in a real browser: headless Chromium draws the charts (apt package chromium)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from runner.record import Milestone, MilestoneName, Verdict
from runner.reports import write_reports
from runner.reports.palette import STATUS_COLOURS
from tests.reports.factory import make_drill, make_record, make_samples

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
APT_HINT = "install it with `apt-get update && apt-get install -y chromium`"
DOT_OPACITY = 0.85  # fill-opacity of the dots in report.html


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(f"Chromium is required in CI to check report.html; {APT_HINT}")
    pytest.skip(f"Chromium not found ({', '.join(BROWSERS)}); {APT_HINT}")


def _run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # the tests may run as root, where the sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def _decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows of raw pixels, bytes per pixel) of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, channels


def _on_white(hex_colour: str) -> tuple[int, int, int]:
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    return tuple(round(DOT_OPACITY * c + (1 - DOT_OPACITY) * 255) for c in rgb)  # type: ignore[return-value]


def _pixels_near(rows: list[bytes], channels: int, target: tuple[int, int, int]) -> int:
    count = 0
    for row in rows:
        for i in range(0, len(row), channels):
            if all(abs(row[i + k] - target[k]) <= 4 for k in range(3)):
                count += 1
    return count


@pytest.mark.slow
def test_chromium_draws_the_timeline(tmp_path: Path) -> None:
    browser = _browser()
    drill = make_drill(
        "mk-offline-stop",
        Verdict.FAILED,  # failing drills stay open, so their chart is on screen
        samples=make_samples(count=200, reason="offline"),
        failed_assertion=("a", "b"),
    )
    write_reports(make_record([drill]), tmp_path / "run")
    page = (tmp_path / "run" / "report.html").resolve().as_uri()

    dom = _run_browser(browser, tmp_path / "profile-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode("utf-8")
    assert html.count("<circle") == 200
    assert 'class="fault"' in html and 'class="bound"' in html

    shot = tmp_path / "shot.png"
    result = _run_browser(
        browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1100,1400", page
    )
    assert result.returncode == 0 and shot.exists(), result.stderr.decode(errors="replace")[-2000:]
    width, height, rows, channels = _decode_png(shot.read_bytes())
    assert (width, height) == (1100, 1400)
    distinct = {row[i : i + 3] for row in rows[::7] for i in range(0, len(row), channels * 7)}
    assert len(distinct) > 50, "the screenshot is (nearly) blank"
    # Dots of both statuses are on screen in their legend colours (centre pixels are unblended).
    assert _pixels_near(rows, channels, _on_white(STATUS_COLOURS["enriched"])) > 100
    assert _pixels_near(rows, channels, _on_white(STATUS_COLOURS["offline"])) > 100


# Run in a copy of the page (report.html itself has no script): reads the layout Chromium made.
_MEASURE = """
<script>
window.addEventListener("load", () => {
  const box = (el) => el.getBoundingClientRect();
  const shown = (d) => d.querySelector("svg.timeline").checkVisibility();
  const out = {};
  const [closed, opened] = [...document.querySelectorAll("details.drill")];
  out.closed_open_attr = closed.open; out.opened_open_attr = opened.open;
  out.closed_chart = shown(closed); out.opened_chart = shown(opened);
  closed.querySelector("summary").click();
  out.clicked_chart = shown(closed);
  const labels = [...opened.querySelectorAll("svg.timeline text.ms-label")].map(box);
  const svg = box(opened.querySelector("svg.timeline"));
  out.labels = labels.length;
  out.overlaps = 0; out.outside = 0;
  labels.forEach((a, i) => {
    if (a.left < svg.left - 0.5 || a.right > svg.right + 0.5) out.outside++;
    labels.slice(i + 1).forEach((b) => {
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.overlaps++;
    });
  });
  document.body.setAttribute("data-measured", JSON.stringify(out));
});
</script>
"""


@pytest.mark.slow
def test_chromium_collapses_passing_drills_and_lays_out_crowded_milestones(tmp_path: Path) -> None:
    browser = _browser()
    passing = make_drill("mk-fine")
    crowded = make_drill("mk-crowded", Verdict.FAILED, failed_assertion=("a", "b"), ttr_s=1.5)
    assert crowded.time_to_restore is not None
    # Every milestone within 40 ms, right at the end of the chart: the labels' worst case.
    late = crowded.time_to_restore.model_copy(
        update={
            "started_s": 11.7,
            "milestones": [
                Milestone(name=name, at_s=0.01 * (i + 1)) for i, name in enumerate(MilestoneName)
            ],
        }
    )
    crowded = crowded.model_copy(update={"time_to_restore": late})
    write_reports(make_record([passing, crowded]), tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    probe = tmp_path / "measured.html"
    probe.write_text(page.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")

    dom = _run_browser(
        browser, tmp_path / "profile", "--window-size=1100,1400", "--dump-dom", probe.as_uri()
    )
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    found = re.search(r"data-measured=\"([^\"]+)\"", dom.stdout.decode("utf-8"))
    assert found is not None, "the layout was not measured"
    measured = json.loads(html.unescape(found.group(1)))
    assert measured["closed_open_attr"] is False and measured["opened_open_attr"] is True
    assert measured["closed_chart"] is False and measured["opened_chart"] is True
    assert measured["clicked_chart"] is True  # a click opens a passing drill
    assert measured["labels"] == 1 + len(MilestoneName)
    assert measured["overlaps"] == 0
    assert measured["outside"] == 0
