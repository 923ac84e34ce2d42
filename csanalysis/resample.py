"""The former name of :mod:`csanalysis.stats.bootstrap`, kept only while ``health`` and ``nps`` still import it
(issue 20: they switch to ``csanalysis.stats.bootstrap``, then this file goes). The name is the module itself, not
a copy, so ``resample.BLOCK_CELLS`` set in a test is the engine's."""
import sys

from .stats import bootstrap as _bootstrap

sys.modules[__name__] = _bootstrap
