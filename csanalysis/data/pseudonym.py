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

KEY_ENV = "CSANALYSIS_PSEUDONYM_KEY"
KEY_FILE_ENV = "CSANALYSIS_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_FILE = Path.home() / ".config" / "csanalysis" / "pseudonym.key"
ID_COLUMNS = ("customer_id", "respondent_id")  # the columns that identify a customer
FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "attributes", "payment_attempts",
          "tickets", "invoices")


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


def key_id(key: bytes | None = None) -> str:
    """A short id of the key (an HMAC of a fixed text: it tells keys apart without revealing them)."""
    key = key or pseudonym_key()
    return hmac.new(key, b"csanalysis pseudonym key id", hashlib.sha256).hexdigest()[:16]


def cache_setting(pseudonymise: bool) -> str | bool:
    """The pseudonymisation part of a load's cache key: False for raw ids, else the key's :func:`key_id`, so a
    pseudonymised run never reads an entry holding raw ids, nor one whose pseudonyms another key made. Whether a
    load is pseudonymised comes from its run context (:class:`csanalysis.data.context.RunContext`)."""
    return key_id() if pseudonymise else False


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
        for col in ID_COLUMNS:
            if col in df.columns:
                df[col] = pd.Series(pseudonymise_ids(df[col].to_numpy(), key), index=df.index)
    for table, col in (("nps", "comment"), ("tickets", "text")):
        df = getattr(ds, table, None)
        if df is not None and col in df.columns:
            df[col] = None  # free text may name people or companies
    ds.date_ranges()  # computed from the raw tables before they are dropped
    ds.tables = {}  # raw rows carry the real identifiers
    ds.engine = {}  # so do the engine panel and spells (rebuilt from the pseudonymised frames when queried)
    ds.con = None
    pseudonymise_report(ds.report, key)
    ds.pseudonymised = True
    return ds


def pseudonymise_report(report, key: bytes | None = None):
    """Replace the customer ids quoted in a validation report's examples by their pseudonyms, in place; returns it.

    A finding names the ids its examples quote (``Finding.ids``; a finding on an id column quotes ids only): each
    whole occurrence in an example becomes the id's pseudonym, so a pseudonymised run prints no raw id even when the
    data are invalid, while the other values (a bad date, an amount) stay readable. A finding whose table holds
    customer ids but whose examples name none is left as it is."""
    key = key or pseudonym_key()
    for f in report.findings:
        ids = [str(i) for i in (f.ids or (f.examples if f.column in ID_COLUMNS else []))]
        if ids and f.examples:
            uniq = sorted(set(ids), key=len, reverse=True)  # the longest first: an id inside another is not split
            mapped = dict(zip(uniq, pseudonymise_ids(uniq, key)))
            pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(i)}(?![\w-])" for i in uniq))
            f.examples = [pattern.sub(lambda m: mapped[m.group(0)], str(e)) for e in f.examples]
        f.ids = []
    return report
