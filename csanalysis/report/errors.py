"""The report runner's errors, each with the command line's exit code: 1 an unexpected error, 2 invalid
parameters or options, 4 a notebook failed (3, invalid data, is :class:`csanalysis.data.DataValidationError`)."""
from __future__ import annotations

EXIT_OK, EXIT_ERROR, EXIT_BAD_PARAMS, EXIT_BAD_DATA, EXIT_NOTEBOOK_FAILED = 0, 1, 2, 3, 4


class ReportError(Exception):
    exit_code = EXIT_ERROR


class ParameterError(ReportError):
    exit_code = EXIT_BAD_PARAMS


class NotebookFailed(ReportError):
    exit_code = EXIT_NOTEBOOK_FAILED


__all__ = ["ReportError", "ParameterError", "NotebookFailed", "EXIT_OK", "EXIT_ERROR", "EXIT_BAD_PARAMS",
           "EXIT_BAD_DATA", "EXIT_NOTEBOOK_FAILED"]
