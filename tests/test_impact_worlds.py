"""The program's effect over many generated worlds (issue 25): unbiased, with 95% intervals that cover the
planted truth, and a null world's false positives at most 7%.

Each world is the demo generator's at a small size (1,000 customers, 36 months, the program from month 18,
monthly usage rows), written to files, loaded as a user's export and estimated with the report's defaults
(benchmarks/impact_worlds.py, whose large version ``make bench`` runs at 20,000 customers). The estimator adjusts
for the attributes at signup and the month's signals, so its hazard ratio is the generator's planted, conditional
one (see csanalysis/impact.py); the percentage points are checked against the generator's ``program_effect_pp``
and the cumulative ROI against the estimator's quantity under the true hazards (``impact_worlds.true_retained``).

The study of 200 program worlds (seeds 1-200) and 200 null worlds (seeds 1001-1200) took about 16 minutes of the
suite's 36, so it is run by its command and committed (benchmarks/impact_worlds_small*.json, one line per world;
benchmarks/README.md says how to run it), and the suite checks three things:

* the committed studies meet the study's criteria (``impact_worlds.criteria``, the thresholds this test had: the
  mean log bias within two standard errors of zero; each 95% interval covering the truth in at least 92.5% of
  worlds; in null worlds the effect significant at 5% in at most 7%), recomputed here from their per-world rows;
* they are the current code's: worlds 1-8 and 1001-1008, generated, loaded and estimated again here, give the
  committed rows (to a relative 1e-9, for another machine's last bits). A change of the generator, the loader or
  the estimator that moves any number fails this test: run the study again (its command is in the failure) and
  commit its JSON with the change;
* those 16 worlds on their own: a small study that fails if the estimator breaks, whatever the JSON says. With
  a correct estimator each 95% interval misses in a world with probability 0.05, so 3 or more misses of 8 has
  probability 0.0058 (binomial); over the five counts checked (three intervals, the null worlds' interval and
  false positives) and the mean log bias within 4 standard errors, a correct estimator fails at most 3.4% of seed
  choices; these fixed seeds pass.

The worlds are loaded in one batch (``impact_worlds.load_worlds``: one load of their stacked tables costs what
one world's did); each world's Dataset equals its load alone, and so do its estimates (checked on three worlds).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package beside tests/
from benchmarks import impact_worlds  # noqa: E402

WORLDS = 200  # per committed study
CUSTOMERS = 1000
STUDIES = {  # program worlds or not: (committed file, its first seed, its command's extra arguments)
    True: (ROOT / "benchmarks" / "impact_worlds_small.json", 1, ""),
    False: (ROOT / "benchmarks" / "impact_worlds_small_null.json", 1001, " --null"),
}
AGAIN = 8  # worlds of each study estimated again here
MAX_MISSES = 2  # of AGAIN: P(3 or more misses of 8 | a 95% interval) = 0.0058


def _command(program: bool) -> str:
    path, first, extra = STUDIES[program]
    return (f"python -m benchmarks.impact_worlds --worlds {WORLDS} --customers {CUSTOMERS} --first-seed {first} "
            f"--batch 25{extra} --out {path.relative_to(ROOT)}")


def _study(program: bool) -> dict:
    return json.loads(STUDIES[program][0].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def again(tmp_path_factory):
    """Worlds 1-8 and 1001-1008 generated and loaded in one batch: their DemoData, Datasets and estimates."""
    from csanalysis.data import synth

    worlds = [(STUDIES[p][1] + k, p) for p in (True, False) for k in range(AGAIN)]
    demos = [synth.generate(**impact_worlds._generator_args(s, CUSTOMERS, 36, p)) for s, p in worlds]
    batch = impact_worlds.load_worlds(demos, tmp_path_factory.mktemp("impact-worlds") / "batch")
    est = [impact_worlds.estimate(ds, demo, s, p) for (s, p), demo, ds in zip(worlds, demos, batch)]
    return worlds, demos, batch, est


FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "cs_costs", "attributes")


def test_each_world_gets_the_dataset_and_estimates_of_its_own_load(again, tmp_path):
    """Worlds of both studies, loaded together and each alone (written to files and read by load_dataset, as the
    studies did before): every table, the settings and the estimates are equal."""
    import pandas as pd

    import csanalysis as cs
    from csanalysis.data import synth

    worlds, demos, batch, est = again
    for i in (0, 1, AGAIN):  # worlds 1, 2 and 1001
        (seed, program), demo, b = worlds[i], demos[i], batch[i]
        synth.write_demo(tmp_path / f"w{seed}", **impact_worlds._generator_args(seed, CUSTOMERS, 36, program))
        alone = cs.load_dataset(tmp_path / f"w{seed}")
        for name in FRAMES:
            x, y = getattr(alone, name), getattr(b, name)
            if x is None:
                assert y is None, name
                continue
            assert len(x) > 0, name
            pd.testing.assert_frame_equal(y, x, check_exact=True, obj=f"world {seed}: {name}")
        assert b.settings.to_dict() == alone.settings.to_dict()
        assert (b.layout, b.as_of_month, b.attribute_kinds) == (alone.layout, alone.as_of_month, alone.attribute_kinds)
        assert est[i] == impact_worlds.estimate(alone, demo, seed, program)


def test_worlds_of_different_windows_are_not_loaded_together(tmp_path):
    from csanalysis.data import synth

    demos = [synth.generate(n_customers=60, months=m, seed=1) for m in (24, 30)]
    with pytest.raises(ValueError, match="different dates"):
        impact_worlds.load_worlds(demos, tmp_path / "batch")


@pytest.mark.parametrize("program", [True, False], ids=["program", "null"])
def test_committed_study_meets_the_criteria(program):
    """The committed study is the one this suite ran before (200 worlds of 1,000 customers from its first seed,
    every one estimable), its summary is its rows' (recomputed here) and it meets every criterion."""
    import pandas as pd

    study = _study(program)
    rows = pd.DataFrame(study["worlds"])
    first = STUDIES[program][1]
    assert rows["seed"].tolist() == list(range(first, first + WORLDS))
    assert rows["program"].eq(program).all()
    assert study["summary"]["customers"] == CUSTOMERS
    summary = impact_worlds.summarise(rows)
    assert summary == {k: study["summary"][k] for k in summary}, "the committed summary is not its rows'"
    checks = impact_worlds.criteria(summary)
    assert checks == study["checks"]
    assert summary["worlds"] == summary["estimable"] == WORLDS
    failed = {k: c for k, c in checks.items() if not c["passed"]}
    assert not failed, failed
    if program:  # the criteria, spelled out as this test had them
        assert abs(summary["mean_log_bias"]) <= 2 * summary["bias_se"]
        assert min(summary["hr_coverage"], summary["pp_coverage"], summary["roi_coverage"]) >= 0.925
    else:
        assert summary["false_positive_rate"] <= 0.07 and summary["pp_coverage"] >= 0.925


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_committed_studies_are_the_current_codes(again):
    """Worlds 1-8 and 1001-1008 estimated again give the committed rows: the committed studies are what the
    current generator, loader and estimator give."""
    worlds, _, _, est = again
    committed = {p: {r["seed"]: r for r in _study(p)["worlds"]} for p in STUDIES}
    for (seed, program), e in zip(worlds, est):
        row = committed[program][seed]
        diff = {k: (v, row.get(k)) for k, v in e.items() if k not in row or not _same(v, row[k])}
        extra = {k: v for k, v in row.items() if k not in e and not (isinstance(v, float) and math.isnan(v))}
        assert not diff and not extra, (
            f"world {seed}: the estimates (now, committed) differ: {diff or extra}. If the change is meant, run "
            f"the study again (make impact-worlds-small) and commit its JSON: {_command(program)}")


def _misses(rows, name: str, truth: str) -> int:
    return sum(not (r[f"{name}_lower"] <= r[truth] <= r[f"{name}_upper"]) for r in rows)


@pytest.mark.slow
def test_small_study_recovers_the_planted_effect(again):
    """The 16 worlds on their own, against the generator's truth: each 95% interval misses the truth in at most
    2 of 8 worlds, the null worlds' effect is significant at 5% in at most 2 of 8 and the program worlds' mean log
    hazard ratio is within 4 standard errors of the planted one (t with 7 degrees of freedom: P = 0.005); a correct
    estimator fails one of these in at most 2.9% + 0.5% of seed choices. At 1,000 customers the intervals are wide,
    so this catches gross faults (an effect of the wrong sign, intervals far too narrow, a null effect found
    significant); smaller ones are the committed 200-world studies' to catch, through the check above that they
    are the current code's. These seeds give 0, 0 and 1 misses of the program's intervals, 1 of the null's,
    1 significant null world and a mean log bias of -0.13 (z = -1.8)."""
    import numpy as np

    worlds, _, _, est = again
    assert all(e["estimable"] for e in est)
    prog = [e for (_, p), e in zip(worlds, est) if p]
    null = [e for (_, p), e in zip(worlds, est) if not p]
    misses = {"hr": _misses(prog, "hr", "true_hr"), "pp": _misses(prog, "pp", "true_pp"),
              "roi": _misses(prog, "roi", "true_roi"), "null pp": _misses(null, "pp", "true_pp"),
              "null significant": sum(e["p_value"] < 0.05 for e in null)}
    assert max(misses.values()) <= MAX_MISSES, misses
    err = np.log([e["hr"] for e in prog]) - np.log([e["true_hr"] for e in prog])
    assert abs(err.mean()) <= 4 * err.std(ddof=1) / np.sqrt(len(err)), err
    assert all(e["true_pp"] == 0 for e in null)
