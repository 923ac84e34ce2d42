"""csanalysis: customer-success analytics as reproducible, parameterized notebooks.

Public API::

    import csanalysis as cs
    ds = cs.load_dataset("data/demo")          # validated tables, panel and spells
"""
from .data import DataValidationError, Dataset, MappingError, Settings, load_dataset

__version__ = "0.1.0"

__all__ = ["load_dataset", "Dataset", "Settings", "DataValidationError", "MappingError", "__version__"]
