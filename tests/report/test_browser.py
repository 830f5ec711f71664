"""Every report (run, compare, sweep) opened in headless Chromium at 1280 px wide (issue 12).

Each report is built once per module by the `twin` command, as a user builds it (tiny scenario,
3 replications), then opened once; the tests check what the browser saw: no console errors,
nothing wider than the viewport, every figure loaded with alt text, and the verdict on the first
screen with the numbers of the CSV files written beside the report. Without Chromium the tests
skip and say why (`browser.missing_browser`). The first tests prove the checks themselves catch
what they are meant to, on small pages made for it.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from browser import (
    HEIGHT,
    WIDTH,
    PageFacts,
    VerdictNumber,
    close_enough,
    inspect_report,
    missing_browser,
    printing_tolerance,
    save_screenshot,
)

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
REPS = "3"
SWEEP_GRID = "policies.forward_replenishment.target=150,350"
VARIANTS = """
variants:
  more_forward_stock:
    policies.forward_replenishment.target: 400
  lean_forward_stock_and_no_elastic_capacity:
    policies.forward_replenishment.target: 120
    sites.factory.elastic: null
"""


# --- the checks themselves, on pages made to fail them ------------------------------------------


def page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    out = tmp_path / name
    out.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>t</title>"
        "<style>body { margin: 0; font-family: sans-serif; }</style></head>"
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    return out


def test_a_clean_page_has_nothing_to_report(browser: WebDriver, tmp_path: Path) -> None:
    facts = inspect_report(browser, page(tmp_path, "<main><p>fine</p></main>"))
    assert facts.viewport_width == WIDTH
    assert facts.console_errors == []
    assert facts.overflowing == []
    assert facts.images == []
    assert facts.verdict_top is None and facts.verdict_numbers == []


def test_console_errors_are_caught(browser: WebDriver, tmp_path: Path) -> None:
    body = (
        "<p>x</p><script>console.error('deliberate failure'); console.log('just chatter');</script>"
    )
    facts = inspect_report(browser, page(tmp_path, body))
    assert len(facts.console_errors) == 1
    assert "deliberate failure" in facts.console_errors[0]
    # an uncaught exception is an error too, and the previous page's errors are not carried over
    facts = inspect_report(browser, page(tmp_path, "<script>null.boom;</script>", "b.html"))
    assert len(facts.console_errors) == 1
    assert "TypeError" in facts.console_errors[0]


def test_an_element_wider_than_the_viewport_is_caught(browser: WebDriver, tmp_path: Path) -> None:
    body = (
        "<div id='ok' style='width: 1200px'>fits</div>"
        "<div class='outer band'><div id='too-wide' style='width: 1400px'>too wide</div></div>"
        "<div class='wide' style='overflow-x: auto'><table id='scrolls' style='width: 2000px'>"
        "<tr><td>in a scrolling box: fine</td></tr></table></div>"
        "<pre id='long' style='width: 300px; overflow: visible'>" + "x" * 400 + "</pre>"
    )
    facts = inspect_report(browser, page(tmp_path, body))
    by_id = {o.id: o for o in facts.overflowing if o.id}
    assert set(by_id) == {"too-wide", "long"}, facts.overflowing
    wide = by_id["too-wide"]
    assert (wide.tag, wide.reason, wide.right) == ("div", "right edge", 1400)
    assert not wide.nested
    long = by_id["long"]
    assert (long.reason, long.scroll_width, long.client_width) == (
        "content",
        long.scroll_width,
        300,
    )
    assert long.scroll_width > 1280
    # the band around the wide div and the body spill because of it; nothing in a scroller counts
    band = next(o for o in facts.overflowing if o.cls == "outer band")
    assert (band.reason, band.sticking_out) == ("content", ("div#too-wide",))
    body = next(o for o in facts.overflowing if o.tag == "body")
    assert body.sticking_out == ("div.outer.band", "pre#long")
    assert "scrolls" not in {o.id for o in facts.overflowing}
    assert len(facts.overflowing) == 4
    assert facts.overflow_roots == facts.overflowing  # none is inside one past the viewport


def test_content_spilling_out_of_its_box_is_caught(browser: WebDriver, tmp_path: Path) -> None:
    body = (
        "<div id='column' style='width: 600px'>"
        "<table id='spills' style='width: 900px'><tr><td>wider than its column</td></tr></table>"
        "</div>"
    )
    facts = inspect_report(browser, page(tmp_path, body))
    (column,) = facts.overflowing
    assert (column.id, column.reason, column.sticking_out) == (
        "column",
        "content",
        ("table#spills",),
    )
    assert (column.scroll_width, column.client_width) == (900, 600)
    assert "div#column (content: right 600 px" in str(column)


def test_children_of_an_element_past_the_viewport_are_nested(
    browser: WebDriver, tmp_path: Path
) -> None:
    body = "<div id='outer' style='width: 1500px'><p id='inner'>text</p></div>"
    facts = inspect_report(browser, page(tmp_path, body))
    nested = {o.id: o.nested for o in facts.overflowing if o.id}
    assert nested == {"outer": False, "inner": True}
    assert "inner" not in {o.id for o in facts.overflow_roots}


def test_images_report_whether_they_loaded_and_their_alt(
    browser: WebDriver, tmp_path: Path
) -> None:
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    body = f"<img src='{pixel}' alt='a pixel'><img src='{pixel}'><img src='missing.png' alt='gone'>"
    facts = inspect_report(browser, page(tmp_path, body))
    assert [(i.alt, i.loaded) for i in facts.images] == [
        ("a pixel", True),
        ("", True),
        ("gone", False),
    ]
    assert facts.images[0].natural_width == 1
    assert [i.alt for i in facts.broken_images] == ["", "gone"]
    assert any("missing.png" in e for e in facts.console_errors)


def test_the_verdict_is_located_and_its_numbers_read(browser: WebDriver, tmp_path: Path) -> None:
    body = (
        "<div style='height: 1000px'>header</div><section id='verdict' style='padding: 1px'>"
        "<p>Fill rate "
        "<span data-kpi='fill_rate' data-stat='mean' data-value='0.8334'>83.3 %</span>, "
        "<span data-kpi='cost_total' data-value='18200' data-design='more_forward_stock'>"
        "18,200</span>, <b data-kpi='otd' data-stat='half_width' data-value='0.05'>5 pp</b>"
        "</p></section><span data-kpi='outside' data-value='1'>not in the verdict</span>"
    )
    facts = inspect_report(browser, page(tmp_path, body))
    assert facts.verdict_top == 1000
    assert facts.verdict == {"fill_rate": "0.8334", "cost_total": "18200", "otd": "0.05"}
    assert facts.verdict_values == {
        ("fill_rate", "mean"): 0.8334,
        ("cost_total", "mean"): 18200.0,
        ("otd", "half_width"): 0.05,
    }
    assert facts.verdict_numbers[1].attrs == {"design": "more_forward_stock"}


def test_printing_precision() -> None:
    assert printing_tolerance("0.8334") == pytest.approx(5e-5)
    assert printing_tolerance("18200") == pytest.approx(50)
    assert printing_tolerance("18201") == pytest.approx(0.5)
    assert printing_tolerance("1.5e3") == pytest.approx(50)
    assert printing_tolerance("1", significant=10) == pytest.approx(5e-10)
    assert printing_tolerance("0.9993950393", significant=10) == pytest.approx(5e-11)
    assert printing_tolerance("2167", significant=10) == pytest.approx(5e-7, rel=0.01)
    assert printing_tolerance("0", significant=10) == 0
    number = VerdictNumber("fill_rate", "mean", "0.8334")
    assert close_enough(number, 0.83336)
    assert not close_enough(number, 0.8336)
    # a CSV cell written with fewer digits than the page is compared at its own precision
    full = VerdictNumber("fill_rate", "mean", "0.9993950393224441")
    assert close_enough(full, "0.9993950393")
    assert not close_enough(full, 0.9993950393)
    assert not close_enough(full, "0.9993950394")
    assert close_enough(VerdictNumber("fill_rate", "mean", "1.0"), "1")
    assert not close_enough(VerdictNumber("lost_sales", "mean", "3"), "2")
    assert not close_enough(VerdictNumber("profit", "diff", "-2189.66"), "2189.66")


def test_a_screenshot_is_the_whole_page(browser: WebDriver, tmp_path: Path) -> None:
    inspect_report(browser, page(tmp_path, "<div style='height: 2000px'>tall</div>"))
    shot = save_screenshot(browser, tmp_path / "shots" / "page.png")
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (WIDTH, 2000)
    first = save_screenshot(browser, tmp_path / "first.png", full_page=False).read_bytes()[:24]
    assert int.from_bytes(first[20:24], "big") == HEIGHT


def test_without_a_browser_the_reason_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_CHROMIUM", "/nonexistent/chromium")
    reason = missing_browser()
    assert reason is not None
    assert "/nonexistent/chromium" in reason and "apt-get install chromium" in reason


# --- the reports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A report built by the `twin` command: its folder, what the browser saw, its CSV tables."""

    kind: str
    out: Path
    facts: PageFacts
    tables: dict[str, pd.DataFrame]

    @property
    def screenshot(self) -> Path:
        return self.out / "report.png"

    def where(self) -> str:
        return f"{self.kind} report {self.out / 'report.html'} (screenshot {self.screenshot})"


def twin(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, f"twin {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def build(kind: str, tmp: Path) -> Path:
    """Write one report with the `twin` command; the folder it went to."""
    out = tmp / kind
    common = ("--reps", REPS, "--workers", "1", "--out", str(out))
    if kind == "run":
        twin("run", str(TINY), *common)
        return out
    if kind == "compare":
        designs = tmp / "tiny_designs.yaml"
        designs.write_text(TINY.read_text(encoding="utf-8") + VARIANTS, encoding="utf-8")
        twin("compare", str(designs), *common)
        return out
    twin("sweep", str(TINY), "--grid", SWEEP_GRID, *common)
    return out


def summary_tables(out: Path) -> dict[str, pd.DataFrame]:
    """The CSV files beside a report with one row per KPI (a `kpi` column), read as text.

    `summary.csv` for a run, `compare_summary.csv` and `compare_differences.csv` for a compare,
    `sweep.csv` for a sweep (and whatever such table is added later); per-replication files
    (`kpis.csv`, ...) have a column per KPI instead and are left out. Read as text, a cell is
    compared within the precision it was written with.
    """
    tables = {}
    for csv in sorted(out.glob("*.csv")):
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if "kpi" in table.columns:
            tables[csv.name] = table
    return tables


@pytest.fixture(scope="module", params=["run", "compare", "sweep"])
def report(
    request: pytest.FixtureRequest, browser: WebDriver, tmp_path_factory: pytest.TempPathFactory
) -> Report:
    kind: str = request.param
    out = build(kind, tmp_path_factory.mktemp(f"{kind}-report"))
    facts = inspect_report(browser, out / "report.html", screenshot=out / "report.png")
    return Report(kind, out, facts, summary_tables(out))


def test_no_console_errors(report: Report) -> None:
    assert report.facts.console_errors == [], report.where()


def test_nothing_is_wider_than_the_viewport(report: Report) -> None:
    facts = report.facts
    assert facts.viewport_width == WIDTH
    beyond = [str(o) for o in facts.overflowing if o.reason == "right edge"]
    assert beyond == [], report.where()


def test_nothing_spills_out_of_its_box(report: Report) -> None:
    spills = [str(o) for o in report.facts.overflow_roots if o.reason == "content"]
    assert spills == [], report.where()


def test_every_figure_loads_with_alt_text(report: Report) -> None:
    images = report.facts.images
    assert images, f"no figure in the {report.where()}"
    for image in images:
        assert image.loaded, f"{image.src}... did not load in the {report.where()}"
        assert image.alt.strip(), f"{image.src}... has no alt text in the {report.where()}"


def verdict(report: Report) -> PageFacts:
    if report.facts.verdict_top is None:
        pytest.skip(f"report has no #verdict yet ({report.kind} report)")
    return report.facts


def test_the_verdict_is_on_the_first_screen(report: Report) -> None:
    facts = verdict(report)
    assert facts.verdict_top is not None and facts.verdict_top < HEIGHT, report.where()


def cells(number: VerdictNumber, tables: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """The CSV cells `number` may print: its KPI's row, its stat's column, narrowed by its attrs.

    Every other `data-*` attribute that names a column of a table (e.g. `data-design`,
    `data-point`) selects that table's rows with that value.
    """
    found = []
    for name, table in tables.items():
        if number.stat not in table.columns:
            continue
        rows = table[table["kpi"].astype(str) == number.kpi]
        for attr, value in number.attrs.items():
            if attr in table.columns:
                rows = rows[rows[attr].astype(str) == value]
        found += [(name, str(v)) for v in rows[number.stat]]
    return found


def test_the_verdict_numbers_are_those_of_the_csv(report: Report) -> None:
    facts = verdict(report)
    assert facts.verdict_numbers, f"#verdict tags no number with data-kpi in the {report.where()}"
    problems = []
    for number in facts.verdict_numbers:
        found = cells(number, report.tables)
        label = f"{number.kpi}/{number.stat} {number.attrs or ''} = {number.text}"
        if not found:
            problems.append(f"{label}: no such cell")
        elif not any(close_enough(number, value) for _, value in found):
            problems.append(f"{label}: the CSV has {found}")
    assert not problems, (
        f"{len(problems)} of {len(facts.verdict_numbers)} numbers in #verdict are not those of "
        f"{', '.join(report.tables)} ({report.where()}):\n" + "\n".join(problems)
    )
