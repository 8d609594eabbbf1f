"""Gram space (docs/math.md §4): per-site n × n Grams accumulated over feature blocks.

* :mod:`~repsim.gram.space` — feature or Gram space: the crossover rule and the memory of packed Grams;
* :mod:`~repsim.gram.tiles` — the strip-packed storage and the thread setting of the tile passes;
* :mod:`~repsim.gram.accumulator` — :class:`GramMoments`;
* :mod:`~repsim.gram.views` — the statistics views metrics read (linear and kernel Grams);
* :mod:`~repsim.gram.bandwidth` — RBF bandwidths by selection over the tiles.
"""
from .accumulator import GramMoments
from .bandwidth import BANDWIDTHS
from .space import SPACES, available_memory, choose_space, gram_nbytes
from .views import GramPairSums, GramView, KernelView

__all__ = ["BANDWIDTHS", "SPACES", "GramMoments", "GramPairSums", "GramView", "KernelView", "available_memory",
           "choose_space", "gram_nbytes"]
