"""Data layer: mapping → engine load and validation → churn definition → Dataset."""
from .context import RunContext
from .dataset import Dataset
from .load import load_dataset
from .mapping import Mapping, MappingError, Settings, load_mapping
from .validation import DataValidationError, Finding, ValidationReport

__all__ = [
    "Dataset", "load_dataset", "RunContext", "Mapping", "MappingError", "Settings", "load_mapping",
    "DataValidationError", "Finding", "ValidationReport",
]
