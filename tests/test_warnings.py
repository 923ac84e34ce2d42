"""The test configuration makes a warning raised in csanalysis an error (pyproject.toml, [tool.pytest.ini_options]
filterwarnings): a warning from the project's own code, a pandas deprecation or a numpy division by zero in a line
of csanalysis fails the test; a third-party warning stays a warning. The code below runs as a csanalysis module
(its ``__name__``), which is what the filter matches."""
from __future__ import annotations

import warnings

import numpy as np
import pytest


def _run_as(module: str, code: str) -> None:
    exec(compile(code, module.replace(".", "/") + ".py", "exec"), {"__name__": module})  # noqa: S102


@pytest.mark.parametrize("code, category", [
    ("import warnings\nwarnings.warn('the project warns', UserWarning)", UserWarning),
    ("import numpy as np\nnp.array([1.0]) / np.array([0.0])", RuntimeWarning),  # numpy points at the calling line
    ("import pandas as pd\npd.Series([1.0, None]).fillna(method='ffill')", FutureWarning),  # and so does pandas
])
def test_a_warning_raised_in_csanalysis_fails_the_test(code, category):
    # numpy's own switch set to warn: lifelines' KaplanMeierFitter turns division warnings off for the whole process
    # (np.seterr), so an earlier test in the same worker would otherwise leave nothing for the filter to act on
    with warnings.catch_warnings(record=True), np.errstate(divide="warn", invalid="warn"):  # configured filters kept
        with pytest.raises(category):
            _run_as("csanalysis.somewhere", code)


def test_a_third_party_warning_stays_a_warning():
    with warnings.catch_warnings(record=True) as seen, np.errstate(divide="warn", invalid="warn"):
        _run_as("somelibrary.module", "import warnings\nwarnings.warn('a library warns', UserWarning)")
        _run_as("somelibrary.numeric", "import numpy as np\nnp.array([1.0]) / np.array([0.0])")
    assert {type(w.message) for w in seen} == {UserWarning, RuntimeWarning}
