"""The one written form of a p-value (csanalysis.stats.pvalue), shared by the report and the analyses."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csanalysis.report import narrative
from csanalysis.stats.pvalue import fmt_p


def test_the_report_writes_p_values_with_the_same_function():
    import csanalysis.report as report

    assert narrative.fmt_p is fmt_p and report.fmt_p is fmt_p


def test_two_significant_digits_and_never_zero():
    assert [fmt_p(v) for v in (0.0, 5.06e-10, 0.000999, 0.001, 0.00164, 0.0123, 0.04999, 0.05, 0.0999, 0.34,
                               0.996, 1.0, 1 + 1e-12)] == [
        "< 0.001", "< 0.001", "< 0.001", "0.0010", "0.0016", "0.012", "0.050", "0.050", "0.10", "0.34", "1.0", "1.0",
        "1.0"]
    assert fmt_p(np.float32(0.25), label=True) == "p = 0.25" and fmt_p(np.float64(2e-4), label=True) == "p < 0.001"
    for bad in (1.5, -0.01):
        with pytest.raises(ValueError, match="outside"):
            fmt_p(bad)


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, np.float32("nan"), pd.NA, pd.NaT])
def test_a_missing_p_value_reads_as_the_reports_missing_values_do(missing):
    assert narrative.is_missing(missing)  # the same values the report calls missing
    assert fmt_p(missing) == "–" and fmt_p(missing, label=True) == "–"
