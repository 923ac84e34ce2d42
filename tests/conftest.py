"""Shared fixtures and the CI rule: under CI=true a required test never skips or xfails."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

# One BLAS/OpenMP thread per test process, the rule report/run.py gives each notebook kernel (run._thread_limits):
# under `pytest -n 2` on 2 cores, workers with OpenBLAS' default of one thread per core spin-wait against each
# other (one program-effect fit of tests/test_impact_worlds.py took 3 times as long). Set here, before the tests
# import numpy, so the xdist workers and the kernels they start inherit it; limits the user has set are kept.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
try:  # a BLAS already loaded (a plugin imported numpy first) takes the limit now
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
except (ImportError, ValueError):
    pass


# The user's load cache (csanalysis/data/cache.py) in a temporary folder of this test process, never the real
# ~/.cache/csanalysis: set before any test loads, inherited by the notebook kernels the tests start, removed at exit.
# Off by default here: a test that loads a source twice gets two fresh loads, as it did before the cache (tests that
# take a Dataset's engine tables apart rely on it); tests/test_load_cache.py turns it on in its own folder.
import atexit  # noqa: E402
import tempfile  # noqa: E402

os.environ["CSANALYSIS_CACHE_DIR"] = tempfile.mkdtemp(prefix="csanalysis-test-cache-")
os.environ["CSANALYSIS_LOAD_CACHE"] = "0"
atexit.register(shutil.rmtree, os.environ["CSANALYSIS_CACHE_DIR"], True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        why = getattr(report, "wasxfail", None) or (
            report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        )
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: skipped or xfailed under CI=true ({why}). A required test may not skip in CI: "
            "a missing dependency is an install bug to fix in pyproject.toml/requirements.lock/.ci/run."
        )


@pytest.fixture
def report_defaults():
    """The report's process-wide language and layout (csanalysis.report.i18n) set to their defaults, English and
    the subscription layout, for one test, and restored afterwards to what they were: ``run_report`` and some
    tests set them for the whole process, so a test reading report words must not rely on the order of tests."""
    from csanalysis.report import i18n

    before = i18n.language(), i18n.layout()
    i18n.set_language("en")
    i18n.set_layout("subscription")
    yield i18n
    i18n.set_language(before[0])
    i18n.set_layout(before[1])


DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"  # absolute: notebook runs change the cwd


def shared(tmp_path_factory, key: str, make):
    """``make(folder)`` computed once per test session for every module and pytest-xdist worker that asks for
    ``key`` (xdist runs a session fixture once per worker): the first caller computes it, under a file lock in
    the session's temporary folder, into a fresh ``folder`` there and keeps its value (pickled); the others wait
    for the lock and read that value. A failure keeps nothing: the next caller tries again."""
    import fcntl
    import pickle

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's basetemp is a folder of the session's
    folder, kept = root / f"shared-{key}", root / f"shared-{key}.pickle"
    with open(root / f"shared-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when make() fails
        if kept.is_file():
            return pickle.loads(kept.read_bytes())
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        value = make(folder)
        kept.write_bytes(pickle.dumps(value))
        return value


# A kernel profile drawing figures as SVG with their text kept as text, so that a test can read a figure's words
# (tests/test_ja_reports.py) as a reader sees them
SVG_TEXT_KERNEL = 'c.InlineBackend.figure_formats = {"svg"}\nc.InlineBackend.rc = {"svg.fonttype": "none"}\n'


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """The nine demo reports rendered once in English, then once in Japanese, into one reports folder (so the
    Japanese run also shows the changes since the English one), shared by the tests that read rendered demo
    reports (tests/test_readable_reports.py, tests/test_browser.py, tests/test_ja_reports.py) across modules and
    xdist workers; figures are SVG with their text as text (:data:`SVG_TEXT_KERNEL`):
    ``{"out": the reports folder, "en": RunResult, "ja": RunResult}``."""
    if not (DEMO / ".complete").exists():
        pytest.skip("the demo data are not written (make demo)")  # a failure under CI=true (see above)

    def render(out):
        from csanalysis.report import i18n
        from csanalysis.report.run import run_report

        profile = out.parent / f"{out.name}-ipython" / "profile_default"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "ipython_kernel_config.py").write_text(SVG_TEXT_KERNEL, encoding="utf-8")
        before = i18n.language(), i18n.layout()
        # run ids of the runner's own form (a reader meets them on the page; the Japanese scan allows ids with digits)
        try:  # two kernels at a time: a worker waiting for this render leaves its core to it
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("IPYTHONDIR", str(profile.parent))  # the kernels draw figures as SVG, their text as text
                runs = {lang: run_report(data=DEMO, out=out, lang=lang, run_id=run_id, progress=None, jobs=2)
                        for lang, run_id in (("en", "20250101-000000-en01"), ("ja", "20250101-000001-ja02"))}
        finally:  # the runner sets this process's language and layout for its own rendering
            i18n.set_language(before[0])
            i18n.set_layout(before[1])
        return {"out": out, **runs}

    return shared(tmp_path_factory, "demo-runs", render)


def generated_world(tmp_path_factory, name: str, **kwargs):
    """Demo data written by the generator (``synth.write_demo`` keyword arguments) and loaded: (DemoData, Dataset)."""
    import csanalysis as cs
    from csanalysis.data import synth

    out = tmp_path_factory.mktemp(name) / "d"
    data = synth.write_demo(out, **kwargs)
    return data, cs.load_dataset(out)


def purchase_log(rng, n_buyers: int, first: str, offset_days: int, end: str, amount, gap):
    """Purchase rows (buyer, ISO date, amount) of ``n_buyers`` buyers (``b000`` …): each starts ``offset_days`` at
    most after ``first`` and buys until ``end``; ``amount(rng, i)`` and ``gap(rng, i)`` (days to the next purchase)
    draw each purchase of buyer ``i``, in that order."""
    import pandas as pd

    rows = []
    for i in range(n_buyers):
        t = pd.Timestamp(first) + pd.Timedelta(days=int(rng.integers(0, offset_days)))
        while t <= pd.Timestamp(end):
            rows.append((f"b{i:03d}", f"{t:%Y-%m-%d}", amount(rng, i)))
            t = t + pd.Timedelta(days=int(gap(rng, i)))
    return rows


def constant_hazard_model(intercept: float, post: float, **effects: float):
    """A stand-in for the program-effect model: a linear predictor ``Intercept`` + ``post`` (+ each named
    covariate × its coefficient, ``effects``), as the hand-computed ROI cases need; ``draws(n)`` gives n
    parameter vectors all equal to the estimate."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd
    import patsy

    names = ["post", *effects]
    info = patsy.dmatrix("1 + " + " + ".join(names), pd.DataFrame({n: [0.0, 1.0] for n in names})).design_info

    class Model:
        params = pd.Series({"Intercept": intercept, "post": post, **effects})
        model = SimpleNamespace(data=SimpleNamespace(model_spec=info))

        @classmethod
        def draws(cls, n: int):
            return np.tile(cls.params.to_numpy(), (n, 1))

    return Model


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium (playwright) for the browser tests; under CI=true its skip fails the run
    (.ci/run installs chromium)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def open_page(browser, url: str, shot: Path, kinds=("error",), width: int = 1100):
    """A page opened offline in its own context, with every console message of ``kinds``, page error and failed
    request collected, every request's address listed, and a full-page screenshot at ``shot``. Returns the
    context (close it), the page, the errors and the requests."""
    ctx = browser.new_context(offline=True, viewport={"width": width, "height": 900})
    page = ctx.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type in kinds else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed request {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url, wait_until="load")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    return ctx, page, errors, requests
