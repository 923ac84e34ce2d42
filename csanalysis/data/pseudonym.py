"""Pseudonymised customer identifiers: a keyed HMAC, with the key kept outside the reports.

A plain hash of sequential ids (C000001, C000002, …) can be reversed by hashing every candidate id; an HMAC
with a secret key cannot. The key comes from ``CSANALYSIS_PSEUDONYM_KEY`` or from a key file
(``~/.config/csanalysis/pseudonym.key`` by default, created with mode 600 on first use), never from the
report folder, so a shared bundle of reports does not carry it. The same key gives the same pseudonym for the
same customer across runs, so lists stay comparable over time.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

ENABLE_ENV = "CSANALYSIS_PSEUDONYMISE"  # set to 1 by `csanalysis report --pseudonymise` for its notebooks
KEY_ENV = "CSANALYSIS_PSEUDONYM_KEY"
KEY_FILE_ENV = "CSANALYSIS_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_FILE = Path.home() / ".config" / "csanalysis" / "pseudonym.key"
FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "attributes")


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "") == "1"


def pseudonym_key() -> bytes:
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = Path(os.environ.get(KEY_FILE_ENV, DEFAULT_KEY_FILE))
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonymise_ids(ids, key: bytes | None = None, prefix: str = "P-") -> np.ndarray:
    """Map identifiers to stable keyed pseudonyms (HMAC-SHA256, 12 hex characters)."""
    key = key or pseudonym_key()
    uniq, inverse = np.unique(np.asarray(ids, dtype=object).astype(str), return_inverse=True)
    mapped = np.array([prefix + hmac.new(key, u.encode(), hashlib.sha256).hexdigest()[:12] for u in uniq], dtype=object)
    return mapped[inverse]


def looks_pseudonymised(ids, prefix: str = "P-") -> bool:
    """Whether every identifier has the form of a pseudonym (``prefix`` + 12 hex characters); False when empty."""
    s = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    return bool(len(s)) and bool(s.str.fullmatch(re.escape(prefix) + r"[0-9a-f]{12}").all())


def pseudonymise_dataset(ds, key: bytes | None = None):
    """Replace ``customer_id`` (and ``respondent_id``) in every table of a Dataset, in place; returns it."""
    key = key or pseudonym_key()
    for name in FRAMES:
        df = getattr(ds, name, None)
        if df is None:
            continue
        for col in ("customer_id", "respondent_id"):
            if col in df.columns:
                df[col] = pd.Series(pseudonymise_ids(df[col].to_numpy(), key), index=df.index)
    for col in ("comment",):
        if ds.nps is not None and col in ds.nps.columns:
            ds.nps[col] = None  # free text may name people or companies
    ds.date_ranges()  # computed from the raw tables before they are dropped
    ds.tables = {}  # raw rows carry the real identifiers
    ds.engine = {}  # so do the engine panel and spells (rebuilt from the pseudonymised frames when queried)
    ds.con = None
    for f in ds.report.findings:  # examples of bad rows may quote identifiers
        f.examples = ["(pseudonymised)"] if f.examples else []
    ds.pseudonymised = True
    return ds
