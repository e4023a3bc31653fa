"""The browser rig itself: it must see tracebacks, and it must leave notebooks/ untouched."""

import nbformat
import pytest

from tests.browser.lab_browser import REPO, assert_no_error_output

pytestmark = pytest.mark.browser


def test_rig_reports_tracebacks_and_works_on_a_copy(jupyter_server, run_notebook):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "import lab, pathlib\nprint('rig-ok', pathlib.Path('../lab').is_dir())"
        ),
        nbformat.v4.new_code_cell("1 / 0"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, jupyter_server.root / "rig_check.ipynb")
    page = run_notebook("rig_check.ipynb")
    # lab imports, and ../lab resolves from the copied notebooks/ directory
    page.wait_for_selector(".jp-OutputArea-output >> text=rig-ok True")
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        assert_no_error_output(page)
    assert jupyter_server.root != REPO / "notebooks"
    assert not (REPO / "notebooks" / "rig_check.ipynb").exists()
