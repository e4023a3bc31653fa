"""08_dataset_scans.ipynb in JupyterLab: the scan panel lists the scan's table, re-sorts it
when the order changes, and shows a neuron's top utterances with audio players."""


import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    docs_screenshot,
    truncated_labels,
    wait_for_change,
)

pytestmark = pytest.mark.browser

PANEL = ".lab-scan-panel"
TABLE = ".lab-scan-table"


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def test_scan_panel_sorts_and_shows_top_utterances(run_notebook):
    page = run_notebook("08_dataset_scans.ipynb")
    page.wait_for_selector(f"{TABLE} table", state="visible", timeout=120_000)
    assert_no_error_output(page)
    table = _text(page, TABLE)
    assert len(table.strip().splitlines()) >= 3, table  # a header and rows

    page.locator(".lab-scan-order input[type=checkbox]").first.click()  # descending → ascending
    assert wait_for_change(page, lambda: _text(page, TABLE), table) != table, \
        "the table did not re-sort"

    # notebook 08 shows the top 4 utterances of neuron 2 of layer_1, each with a player
    top = page.locator(".lab-scan-top")
    top.first.wait_for(state="visible")
    assert top.locator("audio").count() >= 1
    assert truncated_labels(page, PANEL) == []
    docs_screenshot(page, PANEL, "scan_panel.png")
    assert_no_error_output(page)
