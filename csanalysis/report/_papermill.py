"""papermill as the runner's processes import it: without jsonschema's optional IRI format checker.

papermill → nbformat → jsonschema imports the optional IRI format checker rfc3987-syntax when it is installed
(nbformat asks for jsonschema[format-nongpl]); it compiles its grammar's parsers at import, in the runner and in
each worker process (jsonschema issue #1428). No schema here uses the iri formats, so the runner's processes do
without it: jsonschema then leaves those formats unchecked, as it does whenever the package is absent.
"""
from __future__ import annotations

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # a None entry makes the import fail fast (ImportError)

import papermill as pm  # noqa: E402

__all__ = ["pm"]
