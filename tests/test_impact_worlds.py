"""The program's effect over many generated worlds (issue 25): unbiased, with 95% intervals that cover the
planted truth, and a null world's false positives at most 7%.

Each world is the demo generator's at a small size (1,000 customers, 36 months, the program from month 18,
monthly usage rows), written to files, loaded as a user's export and estimated with the report's defaults
(benchmarks/impact_worlds.py, whose large version ``make bench`` runs at 20,000 customers). The worlds are loaded
25 at a time (``impact_worlds.load_worlds``: one load of their stacked tables costs what one world's did); each
world's Dataset equals its load alone, and so do its estimates (checked here on three worlds). The estimator
adjusts for the attributes at signup and the month's signals, so its hazard ratio is the generator's planted,
conditional one (see csanalysis/impact.py); the percentage points are checked against the generator's
``program_effect_pp`` and the cumulative ROI against the estimator's quantity under the true hazards
(``impact_worlds.true_retained``).

Thresholds (fixed seeds, so each run gives the same numbers): the mean log bias within two standard errors of
zero; each 95% interval covering the truth in at least 92.5% of worlds; in worlds without a program effect (every
other effect planted) the effect significant at 5% in at most 7%.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package beside tests/
from benchmarks import impact_worlds  # noqa: E402

WORLDS = 200
CUSTOMERS = 1000
BATCH = 25  # worlds per load
ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "test-artifacts"


def _keep(name: str, summary: dict) -> None:
    """The study's numbers, kept beside the other test artifacts (xdist swallows prints)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"impact_worlds_{name}.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


class TestBatchedLoad:
    FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "cs_costs", "attributes")

    def test_each_world_gets_the_dataset_and_estimates_of_its_own_load(self, tmp_path):
        """The first worlds of both studies, loaded together and each alone (written to files and read by
        load_dataset, as the studies did before): every table, the settings and the estimates are equal."""
        import pandas as pd

        import csanalysis as cs
        from csanalysis.data import synth

        worlds = [(1, True), (2, True), (1001, False)]
        demos = [synth.generate(**impact_worlds._generator_args(s, CUSTOMERS, 36, p)) for s, p in worlds]
        batch = impact_worlds.load_worlds(demos, tmp_path / "batch")
        assert len(batch) == len(worlds)
        for (seed, program), demo, b in zip(worlds, demos, batch):
            synth.write_demo(tmp_path / f"w{seed}", **impact_worlds._generator_args(seed, CUSTOMERS, 36, program))
            alone = cs.load_dataset(tmp_path / f"w{seed}")
            for name in self.FRAMES:
                x, y = getattr(alone, name), getattr(b, name)
                if x is None:
                    assert y is None, name
                    continue
                assert len(x) > 0, name
                pd.testing.assert_frame_equal(y, x, check_exact=True, obj=f"world {seed}: {name}")
            assert b.settings.to_dict() == alone.settings.to_dict()
            assert (b.layout, b.as_of_month, b.attribute_kinds) == (alone.layout, alone.as_of_month, alone.attribute_kinds)
            assert impact_worlds.estimate(b, demo, seed, program) == impact_worlds.estimate(alone, demo, seed, program)

    def test_worlds_of_different_windows_are_not_loaded_together(self, tmp_path):
        from csanalysis.data import synth

        demos = [synth.generate(n_customers=60, months=m, seed=1) for m in (24, 30)]
        with pytest.raises(ValueError, match="different dates"):
            impact_worlds.load_worlds(demos, tmp_path / "batch")


@pytest.mark.slow
class TestProgramWorlds:
    def test_unbiased_and_intervals_cover(self):
        res = impact_worlds.run(range(1, WORLDS + 1), customers=CUSTOMERS, batch=BATCH)
        s = impact_worlds.summarise(res)
        _keep("program", s)
        assert s["estimable"] == WORLDS
        assert abs(s["mean_log_bias"]) <= 2 * s["bias_se"], s
        assert s["hr_coverage"] >= 0.925, s
        assert s["pp_coverage"] >= 0.925, s
        assert s["roi_coverage"] >= 0.925, s


@pytest.mark.slow
class TestNullWorlds:
    def test_false_positives_at_most_7_percent(self):
        res = impact_worlds.run(range(1001, 1001 + WORLDS), customers=CUSTOMERS, program=False, batch=BATCH)
        s = impact_worlds.summarise(res)
        _keep("null", s)
        assert s["estimable"] == WORLDS
        assert s["false_positive_rate"] <= 0.07, s
        assert s["pp_coverage"] >= 0.925, s  # the truth is 0 points
