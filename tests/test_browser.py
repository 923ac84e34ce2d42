"""A real browser opens the reports with the network off: no console errors, no failed or external requests,
every image loaded, no code, the summary visible. Screenshots are kept in reports/test-artifacts/."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import open_page

ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "test-artifacts"


@pytest.fixture(scope="module")
def run(demo_runs):
    """The nine demo reports rendered in English, then in Japanese, into one reports folder (conftest.demo_runs,
    the render the readable-numbers test scans)."""
    return demo_runs["out"], demo_runs["en"], demo_runs["ja"]


def _open(browser, url: str, shot: Path):
    ctx, page, errors, requests = open_page(browser, url, shot)
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    text = page.inner_text("body")
    code = page.eval_on_selector_all(".jp-InputArea, .jp-InputPrompt, .input_area, pre.highlight", "els => els.length")
    ctx.close()
    return errors, requests, images, text, code


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_reports_open_offline_without_errors(browser, run, lang):
    out, en, ja = run
    res = en if lang == "en" else ja
    for nb in res.notebooks:
        html = res.folder / nb / f"{nb}.html"
        errors, requests, images, text, code = _open(browser, html.as_uri(), ARTIFACTS / f"{lang}-{nb}.png")
        assert not errors, errors
        assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
        assert images and all(done and width > 0 for done, width in images)
        assert code == 0
        summary = "Summary" if lang == "en" else "サマリー"
        assert summary in text
        assert "import " not in text and "load_dataset" not in text


def test_index_opens_and_links_to_runs(browser, run):
    out, en, ja = run
    errors, requests, images, text, code = _open(browser, (out / "index.html").as_uri(), ARTIFACTS / "index.png")
    assert not errors and en.run_id in text and ja.run_id in text
