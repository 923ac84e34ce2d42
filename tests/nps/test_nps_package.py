"""The nps package: the facade gives every public name of its modules under one import, and the NPS statistic
(csanalysis.nps.statistic) stands alone: it imports nothing of the data layer (no Dataset)."""
from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import csanalysis
from csanalysis import nps

ROOT = Path(csanalysis.__file__).resolve().parent.parent


def test_the_facade_gives_each_public_name_of_the_modules():
    modules = [m.name for m in pkgutil.iter_modules(nps.__path__)]
    assert {"statistic", "survey", "nonresponse", "alignment", "associations", "models", "inference", "accounts",
            "analysis"} <= set(modules)
    exported = set()
    for name in modules:
        mod = importlib.import_module(f"csanalysis.nps.{name}")
        assert mod.__doc__ and mod.__doc__.strip(), f"{name} says its job in a docstring"
        assert all(hasattr(mod, n) for n in mod.__all__), name
        if not name.startswith("_"):
            for n in mod.__all__:
                assert getattr(nps, n) is getattr(mod, n), f"nps.{n} is {name}.{n}"
            exported |= set(mod.__all__)
    assert exported == set(nps.__all__)
    # no public name is shadowed by a module of the same name (nps.coverage is the function)
    assert not [n for n in nps.__all__ if isinstance(getattr(nps, n), types.ModuleType)]
    assert callable(nps.coverage) and callable(nps.responses) and callable(nps.nps_revenue)


# Run in a fresh interpreter: the parents csanalysis and csanalysis.nps are bare packages (csanalysis/__init__.py
# loads the data layer for cs.load_dataset, and the facade loads every module), and any import of
# csanalysis.data raises. Then the statistic is imported and every public function used, including the text of
# a difference (its p-value written by csanalysis.stats.pvalue, not by the report).
ALONE = r"""
import json, sys, types
root = sys.argv[1]
for name, path in (("csanalysis", root + "/csanalysis"), ("csanalysis.nps", root + "/csanalysis/nps")):
    m = types.ModuleType(name)
    m.__path__ = [path]
    sys.modules[name] = m

class NoDataLayer:
    def find_spec(self, name, path=None, target=None):
        if name == "csanalysis.data" or name.startswith("csanalysis.data."):
            raise ImportError(f"the NPS statistic imported {name}")

sys.meta_path.insert(0, NoDataLayer())
import pandas as pd
from csanalysis.nps import statistic as st

scores = [10, 9, 9, 8, 7, 6, 3, 0, 10, 10, 9, 5]
accounts = list("aabbccddeeff")
r = st.net_promoter_score(scores, "auto")
rb = st.net_promoter_score(scores, accounts=accounts, n_boot=200)
d = st.nps_difference(scores, scores[::-1])
dp = st.nps_difference(scores, scores[::-1], paired_accounts=(accounts, accounts), n_boot=200)
df = pd.DataFrame({"g": list("xy") * 6, "a": accounts, "s": scores})
parts = [str(r), rb._repr_html_(), str(d), str(dp), r.summary.to_json(), json.dumps(rb.to_dict()),
         json.dumps(d.to_dict()), st.nps_by(df, "g", "s", account_col="a", n_boot=200).to_json(),
         st.account_loyalty(df, "a", "s").to_json(), str(st.nps_interval([3, 4], [1, 2], [10, 12], "auto"))]
print(json.dumps({"nps": r.nps, "modules": sorted(k for k in sys.modules if k.startswith("csanalysis"))}))
"""


def test_the_statistic_stands_alone_without_the_data_layer():
    out = subprocess.run([sys.executable, "-c", ALONE, str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert abs(got["nps"] - 100 * (6 - 4) / 12) < 1e-12  # 6 promoters (9–10), 4 detractors (0–6) of 12
    loaded = set(got["modules"])
    assert not {m for m in loaded if m == "csanalysis.data" or m.startswith("csanalysis.data.")}
    assert not {m for m in loaded if m == "csanalysis.report" or m.startswith("csanalysis.report.")}
    # within the nps package only the statistic and its private helpers; nothing of the Dataset analyses
    assert {m for m in loaded if m.startswith("csanalysis.nps.")} <= {
        "csanalysis.nps.statistic"}
