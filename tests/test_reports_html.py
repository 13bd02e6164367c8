"""The HTML report: self-contained, charts drawn from the same numbers as the table,
and it renders in a real browser (headless Chromium, when installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .reports_shop import draw_orders, engine, later, sent_shop
from .shop import Shop

TRUE = {"holdout": 0.04, "A": 0.06, "B": 0.12}


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.headers: list[str] = []
        self.figures: dict[str, int] = {}  # figure id -> <svg> elements inside
        self.gids: set[str] = set()
        self.external: list[str] = []
        self.chart_data = ""
        self._row: str | None = None
        self._cell: list[str] | None = None
        self._figure: str | None = None
        self._in_th = self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img", "link", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(f"{tag} {a.get('src') or a.get('href')}")
        if tag == "tr" and a.get("data-arm"):
            self._row = a["data-arm"]
            self.rows[self._row] = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "th":
            self._in_th = True
        elif tag == "figure":
            self._figure = a.get("id")
            self.figures[self._figure or ""] = 0
        elif tag == "svg" and self._figure:
            self.figures[self._figure] += 1
        elif tag == "script" and a.get("id") == "chart-data":
            self._in_data = True
        if a.get("id") and self._figure:
            self.gids.add(a["id"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self.rows[self._row].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "th":
            self._in_th = False
        elif tag == "figure":
            self._figure = None
        elif tag == "script":
            self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_th:
            self.headers.append(data.strip())
        elif self._in_data:
            self.chart_data += data


@pytest.fixture(scope="module")
def html_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from sent_shop(tmp_path_factory.mktemp("html_shop"), 1500)


def make_report(shop: Shop) -> tuple[Path, dict[str, int]]:
    truth = draw_orders(engine(shop), TRUE, seed=11)
    target = shop.folder / "report.html"
    shop.cli("report", "promo", "--format", "html", "-o", str(target), "--at", later(30))
    return target, truth


def test_html_report_is_self_contained_and_charts_match_the_table(html_shop: Shop) -> None:
    target, truth = make_report(html_shop)
    page = Page()
    page.feed(target.read_text(encoding="utf-8"))
    assert page.external == []  # opens offline: nothing to fetch
    assert page.figures == {"chart-funnel": 1, "chart-cumulative": 1, "chart-uplift": 1}
    assert {"cumulative-holdout", "cumulative-A", "cumulative-B", "uplift-A",
            "uplift-B"} <= page.gids
    converted = page.headers.index("converted")
    recipients = page.headers.index("recipients")
    table = {arm: (int(cells[recipients].replace(",", "")),
                   int(cells[converted].replace(",", "")))
             for arm, cells in page.rows.items()}
    assert {arm: c for arm, (_, c) in table.items()} == {a: truth[a] for a in table}
    data = json.loads(page.chart_data)
    for arm, series in data["cumulative"].items():
        # the chart's last point is the table's count; the curve never goes down
        assert series["conversions"][-1] == table[arm][1]
        assert series["recipients"] == table[arm][0]
        assert series["conversions"] == sorted(series["conversions"])
    # the funnel chart: one bar per arm and stage, from the table's numbers
    stages = ("planned", "sent", "delivered", "clicked", "converted")
    assert {f"funnel-{arm}-{stage}" for arm in table for stage in stages} <= page.gids
    for row in data["funnel"]:
        cells = page.rows[row["arm"]]
        assert row["planned"] == table[row["arm"]][0]
        assert row["converted"] == table[row["arm"]][1]
        for stage in ("sent", "delivered", "clicked"):
            assert row[stage] == int(cells[page.headers.index(stage)].replace(",", ""))
        assert row["sent"] == (0 if row["arm"] == "holdout" else row["planned"])
    uplift = {row["arm"]: row for row in data["uplift"]}
    assert set(uplift) == {"A", "B"}
    assert uplift["B"]["low"] > 0  # B truly converts 8 points better than holdout
    uplift_text = f"{uplift['B']['diff'] * 100:+.1f} pts"
    assert page.rows["B"][page.headers.index("uplift")] == uplift_text


def test_html_report_renders_in_headless_chromium(html_shop: Shop) -> None:
    shop = html_shop
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (CI installs it)")
    target, _ = make_report(shop)
    shot = shop.folder / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1280,1800",
                    f"--screenshot={shot}", target.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.is_file()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # a blank page compresses to a few KB; the table and two charts do not
    assert len(data) > 40_000
