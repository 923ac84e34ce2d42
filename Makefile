# csanalysis: the two commands of the README.
#   make report   environment + demo data (if absent) + every notebook rendered under reports/
#   make test     environment (if needed) + the whole test suite
# Both are idempotent: the environment is rebuilt only when pyproject.toml or requirements.lock change.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
DEMO   := data/demo
KERNEL := csanalysis
PYTEST_ARGS ?=

.PHONY: report test env demo bench bench-1m bench-10m impact-worlds-small lock clean-reports

env: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "csanalysis needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip==25.3 setuptools==80.9.0 wheel==0.45.1
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (csanalysis)" >/dev/null
	touch $(STAMP)

demo: $(DEMO)/.complete

$(DEMO)/.complete: $(STAMP)
	$(BIN)/csanalysis demo-data --out $(DEMO)
	touch $@

report: $(STAMP) demo
	$(BIN)/csanalysis report --data $(DEMO)

# The test environment adds the optional Spark engine (tests/test_spark.py runs the same code on PySpark).
$(TSTAMP): $(STAMP) requirements-spark.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-spark.lock
	$(BIN)/python -m pip check
	touch $(TSTAMP)

# --durations=30: the slowest tests in every log, to keep the suite well under 30 minutes
test: $(TSTAMP) demo
	$(BIN)/python -m pytest -n 2 --dist loadscope --durations=30 $(PYTEST_ARGS) tests
# one BLAS thread per notebook kernel (two run at once on two cores), as tests/conftest.py sets for pytest's own workers
# the notebooks' loads keep their cache in a temporary folder, not the user's ~/.cache/csanalysis (data/cache.py)
	cache=$$(mktemp -d); trap 'rm -rf "$$cache"' EXIT; CSANALYSIS_CACHE_DIR=$$cache \
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} MKL_NUM_THREADS=$${MKL_NUM_THREADS:-1} \
		$(BIN)/python -m pytest -n 2 --dist loadscope --nbval-lax -p no:cacheprovider notebooks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.impact_worlds --worlds 100 --customers 20000
	$(BIN)/python -m benchmarks.impact_worlds --worlds 100 --customers 20000 --null --out benchmarks/impact_worlds_null.json

# the program-effect study of tests/test_impact_worlds.py, committed (benchmarks/README.md): run it again and commit
# its JSON when a change moves the effect's numbers
impact-worlds-small: $(STAMP)
	$(BIN)/python -m benchmarks.impact_worlds --worlds 200 --customers 1000 --first-seed 1 --batch 25 --out benchmarks/impact_worlds_small.json
	$(BIN)/python -m benchmarks.impact_worlds --worlds 200 --customers 1000 --first-seed 1001 --batch 25 --null --out benchmarks/impact_worlds_small_null.json

bench-1m: $(STAMP)
	$(BIN)/python -m benchmarks.run --with-1m $(BENCH_ARGS)

# The engine path at ten million customers (issue 21): one process loads the world cold (timed once), then runs
# the logo cohorts, MRR movements and the grouped queries of csanalysis.grouped on that load, each stage's time
# after the load and its peak memory recorded; the load's cache then serves the reused runs and the DuckDB
# reference runs apart: 41 minutes on a shared machine, 18 of them the cold load (one cold load per stage took
# about an hour). The world (about 1.7 GB of Parquet under benchmarks/data/n10000000) is written block by block
# the first time, BENCH_GEN_JOBS blocks at once.
bench-10m: $(STAMP)
	BENCH_GEN_JOBS=$${BENCH_GEN_JOBS:-2} $(BIN)/python -m benchmarks.run --sizes 10000000 --stages engine $(BENCH_ARGS)

# Re-resolve the full pinned environment after a change of pins in pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install -q --upgrade pip==25.3 setuptools==80.9.0 wheel==0.45.1 && .lockenv/bin/python -m pip install -q -e '.[test]'
	.lockenv/bin/python -m pip check
	(head -2 requirements.lock; .lockenv/bin/python -m pip freeze | grep -v '^-e') > requirements.lock.new && mv requirements.lock.new requirements.lock
	rm -rf .lockenv

clean-reports:
	rm -rf reports/*/ reports/index.html reports/latest
