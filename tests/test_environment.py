"""The conda environment.yml and pyproject.toml pin the same packages at the same versions."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"duckdb": "python-duckdb"}  # conda-forge names that differ from PyPI's


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for spec in specs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^;\s]+)", spec.strip())
        assert m, f"pyproject.toml dependency {spec!r} is not pinned with =="
        pins[m.group(1).lower()] = m.group(2)
    return pins


def _environment_pins() -> tuple[str, dict[str, str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins, python = {}, None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                name, version = spec.split("==")
                pins[name.lower()] = version
            continue
        name, _, version = dep.partition("=")
        if name == "python":
            python = version
        elif name != "pip":
            pins[name.lower()] = version
    return python, pins


def test_environment_yml_matches_pyproject():
    python, conda = _environment_pins()
    assert python == "3.11"
    expected = {CONDA_NAMES.get(k, k): v for k, v in _pyproject_pins().items()}
    assert conda == expected


def test_lock_agrees_with_pyproject():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version
    for name, version in _pyproject_pins().items():
        assert lock.get(name.replace("_", "-")) == version, f"requirements.lock pins {name} at {lock.get(name)}, pyproject at {version}"
