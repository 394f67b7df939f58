"""What a person sees of a picture in Chromium, measured in the page: the checks of every playback test.

`picture_report(driver, element)` answers, for a <video> or <canvas>:
- `topmost`: `document.elementFromPoint` is the picture at its centre and at four inner points;
- `covering`: elements painted over those points with a background (by geometry and computed style).
  Chromium's hit testing skips elements with `pointer-events: none`, such as the `[hidden]` overlay that
  CSS displayed anyway and that dimmed playback (issue #22), so `topmost` alone passes on that bug;
- `opacity` (the product over the picture and its ancestors) and `filters` (any that is not "none");
- `size`: the picture's box, which must not be empty.
"""

from __future__ import annotations

import time

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": False}

PICTURE_REPORT = """
const picture = arguments[0];
const box = picture.getBoundingClientRect();
const points = [[0.5, 0.5], [0.3, 0.3], [0.7, 0.3], [0.3, 0.7], [0.7, 0.7]]
  .map(([fx, fy]) => [box.left + fx * box.width, box.top + fy * box.height]);
const describe = (node) => node.tagName.toLowerCase() + (node.className && typeof node.className === "string"
  ? "." + node.className.trim().split(/\\s+/).join(".") : "") + (node.hidden ? "[hidden]" : "");
const topmost = points.map(([x, y]) => {
  const hit = document.elementFromPoint(x, y);
  return hit === picture ? true : (hit ? describe(hit) : null);
});
const lineage = new Set();
for (let node = picture; node; node = node.parentElement) lineage.add(node);
const covering = [];
for (const other of document.querySelectorAll("body *")) {
  if (lineage.has(other) || picture.contains(other)) continue;
  const style = getComputedStyle(other);
  if (style.display === "none" || style.visibility !== "visible" || Number(style.opacity) === 0) continue;
  const clear = style.backgroundColor === "rgba(0, 0, 0, 0)" || style.backgroundColor === "transparent";
  if (clear && style.backgroundImage === "none") continue;
  const rect = other.getBoundingClientRect();
  if (!rect.width || !rect.height) continue;
  if (points.some(([x, y]) => x >= rect.left && x < rect.right && y >= rect.top && y < rect.bottom)) {
    covering.push(describe(other));
  }
}
let opacity = 1;
const filters = [];
for (let node = picture; node && node !== document.documentElement; node = node.parentElement) {
  const style = getComputedStyle(node);
  opacity *= Number(style.opacity);
  if (style.filter !== "none") filters.push(describe(node) + ": " + style.filter);
}
return {topmost, covering, opacity, filters, size: [box.width, box.height]};
"""

# Live pictures of the page that a person could see (the camera page's <img>, grid canvases).
LIVE_SHOWN = """
return [...document.querySelectorAll("[data-live], img.live")].filter((node) => {
  const rect = node.getBoundingClientRect();
  return getComputedStyle(node).display !== "none" && rect.width > 0 && rect.height > 0;
}).map((node) => node.tagName.toLowerCase() + "." + node.className);
"""

SCROLL_WIDTH = "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"

# WCAG contrast of each visible element matching arguments[0] against the background it is painted on:
# the background colours of its ancestors composited from the page down (background images left out).
CONTRAST = """
const parse = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
const luminance = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 :
  Math.pow((v + 0.055) / 1.055, 2.4); }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
return [...document.querySelectorAll(arguments[0])].filter((n) => n.getClientRects().length && n.textContent.trim())
  .map((node) => {
    const chain = [];
    for (let n = node; n; n = n.parentElement) chain.unshift(n);
    let bg = [255, 255, 255];
    for (const n of chain) {
      const [r, g, b, a = 1] = parse(getComputedStyle(n).backgroundColor);
      bg = [r, g, b].map((v, i) => v * a + bg[i] * (1 - a));
    }
    const [fr, fg, fb] = parse(getComputedStyle(node).color);
    const [l1, l2] = [luminance([fr, fg, fb]), luminance(bg)].sort((x, y) => y - x);
    return [node.textContent.trim().slice(0, 40), Math.round((l1 + 0.05) / (l2 + 0.05) * 10) / 10];
  });
"""

# Elements wider than the page at phone width, for a failure message that says what overflowed.
OVERFLOWING = """
const width = document.documentElement.clientWidth;
return [...document.querySelectorAll("body *")].filter((node) => node.getBoundingClientRect().right > width + 0.5)
  .slice(0, 8).map((node) => node.tagName.toLowerCase() + "." + node.className + " " +
    Math.round(node.getBoundingClientRect().right));
"""


def picture_report(driver, element) -> dict:  # type: ignore[no-untyped-def]
    return driver.execute_script(PICTURE_REPORT, element)


def assert_seen(driver, element, what: str) -> dict:  # type: ignore[no-untyped-def]
    """The picture is on top, uncovered, opaque, unfiltered and not empty; returns the report."""
    report = picture_report(driver, element)
    assert all(hit is True for hit in report["topmost"]), f"{what}: not on top at every point: {report}"
    assert not report["covering"], f"{what}: covered by {report['covering']}"
    assert report["opacity"] == 1, f"{what}: effective opacity {report['opacity']}"
    assert not report["filters"], f"{what}: filtered: {report['filters']}"
    assert report["size"][0] > 100 and report["size"][1] > 50, f"{what}: size {report['size']}"
    return report


def assert_playing(driver, video, what: str, seconds: float = 1.2) -> None:  # type: ignore[no-untyped-def]
    """The video's currentTime advances over `seconds`."""
    first = driver.execute_script("return arguments[0].currentTime", video)
    time.sleep(seconds)
    later = driver.execute_script("return arguments[0].currentTime", video)
    assert later > first + seconds * 0.5, f"{what}: currentTime {first} -> {later} in {seconds} s"


def assert_readable(driver, selector: str, what: str) -> None:  # type: ignore[no-untyped-def]
    """Every visible text matching `selector` has a WCAG AA contrast (4.5:1) against its background."""
    ratios = driver.execute_script(CONTRAST, selector)
    assert ratios, f"{what}: no {selector} to read"
    low = [pair for pair in ratios if pair[1] < 4.5]
    assert not low, f"{what}: contrast below 4.5:1: {low}"


def assert_fits(driver, what: str, width: int) -> None:  # type: ignore[no-untyped-def]
    """The page does not scroll sideways at `width` (the emulated phone's layout width)."""
    scroll, client = driver.execute_script(SCROLL_WIDTH)
    assert client == width, f"{what}: layout width {client}, expected {width}"
    assert scroll <= width, (
        f"{what}: the page scrolls sideways ({scroll} > {width}): {driver.execute_script(OVERFLOWING)}"
    )


class Widths:
    """Switch one browser between 1440 x 900 and a 390 px phone (mobile emulation)."""

    def __init__(self, driver) -> None:  # type: ignore[no-untyped-def]
        self.driver = driver

    def desktop(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", DESKTOP)

    def phone(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)

    def each(self):  # type: ignore[no-untyped-def]
        """Yield ("1440", width) then ("390", width) with the browser set to it; desktop again after."""
        try:
            self.desktop()
            yield "1440", DESKTOP["width"]
            self.phone()
            yield "390", PHONE["width"]
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
