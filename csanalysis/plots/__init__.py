"""Figures (seaborn/matplotlib), apart from the computing modules. ``base`` holds the house style and the
figures of the overview, cohort and survival reports (re-exported here); other reports have one module each
(``csanalysis.plots.<area>``). Each function takes computed data and an optional ``ax`` and returns the Axes."""
from .base import *  # noqa: F401,F403
from .base import _ax, _month_axis  # noqa: F401
