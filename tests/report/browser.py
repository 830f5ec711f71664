"""Open a report in headless Chromium and say what a reader would see go wrong.

A shared test module (on pytest's `pythonpath`): the session-scoped fixture `browser` gives a
Selenium driver on Debian's `chromium` and `chromium-driver` (installed by `.ci/run`), or skips the
test with the reason when they are missing; `inspect_report(driver, path)` loads a local HTML file
in a 1280 px wide viewport and returns its `PageFacts`: console errors, elements wider than the
page, images (loaded? alt text?), where `#verdict` starts and the numbers it carries in
`data-kpi`/`data-stat`/`data-value` attributes. `save_screenshot` keeps a full-page PNG.

The binaries are named explicitly (`TWIN_CHROMIUM`, `TWIN_CHROMEDRIVER`; default
`/usr/bin/chromium`, `/usr/bin/chromedriver`) so Selenium Manager never tries to download one.
"""

from __future__ import annotations

import base64
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

WIDTH = 1280  # px: the viewport every report must fit
HEIGHT = 900  # px: the first screen, where the verdict must start
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
INSTALL_HINT = "apt-get install chromium chromium-driver (.ci/run does)"


@dataclass(frozen=True)
class Overflow:
    """An element that sticks out of the page or out of its own box.

    `right` is the right edge of its bounding box in page coordinates; `scroll_width` and
    `client_width` its content and box widths; `reason` is `"right edge"` (beyond the viewport)
    or `"content"` (scrollWidth > clientWidth: its content spills out, and `sticking_out` names
    the children that reach past its right edge). `selector` is a CSS path from `body`; `nested`
    says an ancestor already sticks out past the viewport (the outermost one is the one to fix).
    """

    tag: str
    id: str
    cls: str
    selector: str
    reason: str
    right: float
    scroll_width: int
    client_width: int
    nested: bool
    sticking_out: tuple[str, ...] = ()

    def __str__(self) -> str:
        out = f" because of {', '.join(self.sticking_out)}" if self.sticking_out else ""
        return (
            f"{self.selector} ({self.reason}: right {self.right:.0f} px, "
            f"scrollWidth {self.scroll_width}, clientWidth {self.client_width}){out}"
        )


@dataclass(frozen=True)
class Image:
    """An `<img>`: whether it decoded (`natural_width > 0`), its alt text and (shortened) src."""

    src: str
    alt: str
    loaded: bool
    natural_width: int
    natural_height: int


@dataclass(frozen=True)
class VerdictNumber:
    """A number in `#verdict`: `data-kpi`, `data-stat` (default `mean`), `data-value` as printed.

    `attrs` holds every other `data-*` attribute of the element (e.g. `design`, `point`), named
    without the `data-` prefix and with `_` for `-` (`data-half-width` -> `half_width`).
    """

    kpi: str
    stat: str
    text: str
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def value(self) -> float:
        """`data-value` as a float."""
        return float(self.text)

    @property
    def tolerance(self) -> float:
        """Half a unit of the last digit `data-value` was printed with (its printing precision)."""
        return printing_tolerance(self.text)


@dataclass(frozen=True)
class PageFacts:
    """What a browser saw in one report (see `inspect_report`)."""

    path: Path
    viewport_width: int
    page_height: int
    console_errors: list[str]
    overflowing: list[Overflow]
    images: list[Image]
    verdict_top: float | None
    verdict_numbers: list[VerdictNumber]

    @property
    def verdict(self) -> dict[str, str]:
        """`data-kpi` -> `data-value` for the numbers in `#verdict` (the last one of a KPI wins)."""
        return {n.kpi: n.text for n in self.verdict_numbers}

    @property
    def verdict_values(self) -> dict[tuple[str, str], float]:
        """(`data-kpi`, `data-stat`) -> value for the numbers in `#verdict`."""
        return {(n.kpi, n.stat): n.value for n in self.verdict_numbers}

    @property
    def overflow_roots(self) -> list[Overflow]:
        """The overflowing elements not inside one that sticks out past the viewport: to fix."""
        return [o for o in self.overflowing if not o.nested]

    @property
    def broken_images(self) -> list[Image]:
        """Images that did not load or have no alt text."""
        return [i for i in self.images if not i.loaded or not i.alt.strip()]


CSV_DIGITS = 10  # significant digits the CSV files are written with, at least (`%.10g`)


def printing_tolerance(text: str, significant: int | None = None) -> float:
    """Half a unit in the last printed digit of the number `text` ("0.8334" -> 5e-05).

    An integer's trailing zeros count as rounding ("18200" -> 50); an exponent scales the unit.
    With `significant`, the text is known to be written with that many significant digits
    (`%.10g` drops trailing zeros: "1" is 1 to 10 digits), so the unit is at most that digit's.
    """
    mantissa, _, exponent = text.strip().lower().partition("e")
    scale = 10.0 ** int(exponent) if exponent else 1.0
    digits = mantissa.lstrip("+-")
    if "." in digits:
        unit = 10.0 ** -len(digits.split(".")[1])
    else:
        stripped = digits.rstrip("0")
        unit = 10.0 ** (len(digits) - len(stripped)) if stripped else 1.0
    unit *= scale
    value = abs(float(text))
    if significant is not None and value > 0 and math.isfinite(value):
        unit = min(unit, 10.0 ** (math.floor(math.log10(value)) - significant + 1))
    elif significant is not None and value == 0:
        unit = 0.0
    return 0.5 * unit + 1e-12 * value


def close_enough(number: VerdictNumber, expected: float | str) -> bool:
    """Whether `number`'s `data-value` and `expected` agree within their printing precision.

    `data-value` is taken at the precision it is printed with ("0.8334": ± 0.00005). `expected`
    given as text is a CSV cell as written, with at least `CSV_DIGITS` significant digits: a
    cell `0.9993950393` matches a `data-value` of `0.9993950393224441`, and a cell `1` is 1.
    """
    tolerance = number.tolerance
    if isinstance(expected, str):
        tolerance += printing_tolerance(expected, CSV_DIGITS)
    value = float(expected)
    if math.isnan(value) or math.isnan(number.value):
        return math.isnan(value) and math.isnan(number.value)
    return abs(number.value - value) <= tolerance


def snake_case(name: str) -> str:
    """A `dataset` key as its attribute was written: `halfWidth` (`data-half-width`) -> `half_width`."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def browser_paths() -> tuple[str, str]:
    """The Chromium binary and chromedriver to use (`TWIN_CHROMIUM`, `TWIN_CHROMEDRIVER`)."""
    return (
        os.environ.get("TWIN_CHROMIUM", CHROMIUM),
        os.environ.get("TWIN_CHROMEDRIVER", CHROMEDRIVER),
    )


def missing_browser() -> str | None:
    """Why no browser test can run here, or None when Chromium, its driver and selenium are there."""
    chromium, chromedriver = browser_paths()
    for name, path in (("chromium", chromium), ("chromedriver", chromedriver)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"no {name} at {path}: {INSTALL_HINT}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


def start_browser(user_data_dir: Path) -> WebDriver:
    """Headless Chromium through the system chromedriver, logging the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    set_viewport(driver, WIDTH, HEIGHT)
    return driver


def set_viewport(driver: WebDriver, width: int, height: int) -> None:
    """Make the page's viewport exactly `width` × `height` CSS px (not the window's outer size)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """A headless Chromium for the session; skips the test, saying why, when there is none."""
    reason = missing_browser()
    if reason:
        pytest.skip(f"browser check skipped: {reason}")
    user_data_dir = Path(tempfile.mkdtemp(prefix="twin-chromium-"))
    driver = start_browser(user_data_dir)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(user_data_dir, ignore_errors=True)


# Runs in the page: one JSON-able dict of everything `PageFacts` holds.
INSPECT_JS = r"""
const root = document.documentElement;
const viewport = root.clientWidth;
const scrolls = (el) => {
  const s = getComputedStyle(el);
  return ['auto', 'scroll'].includes(s.overflowX) || ['auto', 'scroll'].includes(s.overflow);
};
const inScroller = (el) => {
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    if (scrolls(p)) return true;
  }
  return false;
};
const selector = (el) => {
  if (el === document.body) return 'body';
  const parts = [];
  for (let e = el; e && e !== document.body && e !== root; e = e.parentElement) {
    let part = e.tagName.toLowerCase();
    if (e.id) { parts.unshift(part + '#' + e.id); break; }
    const cls = (typeof e.className === 'string' ? e.className : '').trim();
    if (cls) part += '.' + cls.split(/\s+/).join('.');
    parts.unshift(part);
  }
  return parts.join(' > ');
};
const flagged = new Set();
const overflowing = [];
for (const el of [document.body, ...document.body.querySelectorAll('*')]) {
  if (['SCRIPT', 'STYLE', 'TITLE', 'META', 'LINK', 'BR'].includes(el.tagName)) continue;
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden') continue;
  const box = el.getBoundingClientRect();
  if (box.width === 0 && box.height === 0) continue;
  if (inScroller(el)) continue;
  const right = box.right + window.scrollX;
  let reason = null;
  if (right > viewport + 0.5) reason = 'right edge';
  else if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && !scrolls(el))
    reason = 'content';
  if (!reason) continue;
  let nested = false;
  for (let p = el.parentElement; p; p = p.parentElement) if (flagged.has(p)) { nested = true; break; }
  if (reason === 'right edge') flagged.add(el);
  const inner = box.left + el.clientLeft + el.clientWidth;
  const sticking_out = reason === 'content'
    ? Array.from(el.children).filter((c) => {
        const r = c.getBoundingClientRect();
        const spills = getComputedStyle(c).overflowX === 'visible';  // else it scrolls or clips
        return (spills ? Math.max(r.right, r.left + c.scrollWidth) : r.right) > inner + 0.5;
      }).map(selector)
    : [];
  overflowing.push({
    tag: el.tagName.toLowerCase(), id: el.id || '',
    cls: typeof el.className === 'string' ? el.className : (el.getAttribute('class') || ''),
    selector: selector(el), reason, right, nested, sticking_out,
    scroll_width: el.scrollWidth, client_width: el.clientWidth,
  });
}
const images = Array.from(document.images).map((img) => ({
  src: (img.getAttribute('src') || '').slice(0, 80), alt: img.getAttribute('alt') || '',
  loaded: img.complete && img.naturalWidth > 0,
  natural_width: img.naturalWidth, natural_height: img.naturalHeight,
}));
const verdict = document.getElementById('verdict');
let verdictTop = null;
const numbers = [];
if (verdict) {
  verdictTop = verdict.getBoundingClientRect().top + window.scrollY;
  for (const el of verdict.querySelectorAll('[data-kpi]')) {
    const attrs = {};
    for (const [k, v] of Object.entries(el.dataset)) attrs[k] = v;
    numbers.push(attrs);
  }
}
return {
  viewport, page_height: root.scrollHeight, overflowing, images,
  verdict_top: verdictTop, verdict_numbers: numbers,
};
"""


def browser_errors(driver: WebDriver) -> list[str]:
    """The SEVERE console entries logged since the last call (reading the log empties it)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def inspect_report(
    driver: WebDriver, path: str | Path, screenshot: str | Path | None = None
) -> PageFacts:
    """Open the local HTML file `path` at 1280 px wide and collect its `PageFacts`.

    `screenshot`, when given, is where a full-page PNG is saved as well.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(path)
    set_viewport(driver, WIDTH, HEIGHT)
    browser_errors(driver)  # drop what an earlier page logged
    driver.get(path.as_uri())
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all(Array.from(document.images).map((i) => i.decode().catch(() => null)))"
        ".then(() => done(null));"
    )
    raw: dict[str, Any] = driver.execute_script(INSPECT_JS)
    numbers = []
    for dataset in raw["verdict_numbers"]:
        attrs = {snake_case(k): v for k, v in dataset.items()}
        kpi, text = attrs.pop("kpi"), attrs.pop("value", "nan")
        numbers.append(VerdictNumber(kpi, attrs.pop("stat", "mean"), text, attrs))
    facts = PageFacts(
        path=path,
        viewport_width=int(raw["viewport"]),
        page_height=int(raw["page_height"]),
        console_errors=browser_errors(driver),
        overflowing=[
            Overflow(**{**o, "sticking_out": tuple(o["sticking_out"])}) for o in raw["overflowing"]
        ],
        images=[Image(**i) for i in raw["images"]],
        verdict_top=raw["verdict_top"],
        verdict_numbers=numbers,
    )
    if screenshot is not None:
        save_screenshot(driver, screenshot)
    return facts


def save_screenshot(driver: WebDriver, path: str | Path, full_page: bool = True) -> Path:
    """Save the open page as a PNG at `path` (the whole page, or the first screen), return it."""
    params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
    if full_page:
        size = driver.execute_script(
            "const r = document.documentElement;"
            "return [Math.max(r.scrollWidth, r.clientWidth), r.scrollHeight];"
        )
        params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", params)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))
    return out
