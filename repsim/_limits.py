"""Every numeric limit and tolerance of repsim, in one place (the bottom floor: imports nothing from repsim).

Each constant says what it bounds and why. The compiled core carries its own copies of the limits its kernels
apply (``repsim._core.MAX_NORM``, ``DEP_TOL``, ``ONE_TOL``); ``tests/test_core_boundary.py`` checks they agree with
the values here. docs/math.md §3 explains the numerical model behind them.
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------------- statistics
#: Largest accepted squared row norm |x − c|² of one site (C++ ``kMaxNorm``): the statistics square it again
#: (Σ a_i b_i), so larger norms would overflow float64 (≈ 1.8e308).
MAX_NORM = 1e150
#: Largest second-order statistic accepted after a shift: metrics square these entries (‖C‖²_F) and sum them.
MAX_STATISTIC = 1e150
#: Smallest accepted mean squared row norm of a site's first batch, relative to nothing (absolute): below this the
#: squares underflow and every metric would be 0/0.
MIN_SPREAD = 1e-140
#: Largest |activation| of a site's first batch (Moments) or first block (GramMoments) below which its spread is
#: recomputed in an exactly rescaled copy before the MIN_SPREAD check: √MIN_SPREAD, where the squares that the fused
#: pass sums may underflow to exactly 0 (data ≈ 1e-300 or subnormal would otherwise pass as "constant").
SPREAD_RESCAN_VALUE = 1e-70
#: Largest number of columns any one BLAS level-3 call on the statistics sees: G += WᵀW is done in square tiles of at
#: most this edge (SciPy's bundled OpenBLAS 0.3.30 segfaults in one threaded DSYRK at d ≈ 18,000 columns).
TILE_EDGE = 4096
#: Rows of the augmented-row buffer: a larger CPU batch is checked, then filled and added, in chunks of this many rows
#: (the buffer is at most UPDATE_ROWS × (Σp + L + 1) float64).
UPDATE_ROWS = 1024
#: Column block of the overflow scan of shifted statistics (no G-sized temporaries).
CHECK_BLOCK = 256
#: Column block of the in-place symmetrisation of an upper triangle.
SYM_BLOCK = 512
#: Column chunk of the lazy ‖block‖²_F reads (PairStatistics).
LAZY_CHUNK = 128
#: Rows per update in the one-shot array functions: bounds the fused-pass buffer (rows × (p + q + 3) float64).
ONE_SHOT_CHUNK = 8192

# ---------------------------------------------------------------------------------------------------- Gram space
#: Strip width / tile side of the packed Gram storage (n itself when n is smaller).
TILE = 512
#: Elements per column chunk in which a feature block is converted to float64 and centred (64 MiB).
CHUNK_ELEMENTS = 1 << 23
#: Fewest columns per conversion chunk.
MIN_CHUNK_COLUMNS = 1024
#: Gram space is chosen automatically when p + q > GRAM_RATIO · n (docs/math.md §4, crossover rule).
GRAM_RATIO = 1.5
#: Largest accepted |centred activation|² · features of one Gram block: Gram entries are squared in the sums.
MAX_BLOCK_NORM = 1e150
#: Below this many Gram entries a fused pass runs on one thread (waking a team costs more than the pass).
PARALLEL_MIN_ENTRIES = 1 << 20
#: Fallback memory budget for the crossover rule when /proc/meminfo is unreadable (bytes).
DEFAULT_GRAM_BUDGET = 2 << 30

# ---------------------------------------------------------------------------------------------------- metrics
#: Default relative pseudo-inverse tolerance of the CCA family (eigenvalues below rtol · largest are dropped).
CCA_RTOL = 1e-10
#: A feature whose variance is below CONST_RTOL × (the largest variance of its site) counts as constant.
CONST_RTOL = 1e-12
#: Variance fractions are compared with this slack (SVCCA's 99 % rule, PCA ranks): keep · (1 − KEEP_SLACK).
KEEP_SLACK = 1e-12
#: Affine maps: a Cholesky pivot below this fraction of the largest means cond(S) > 1e14 → eigen-solve instead.
MAP_PIVOT_RTOL = 1e-7
#: Affine maps: eigenvalues below this fraction of the largest are dropped by the pseudo-inverse.
MAP_EIG_RTOL = 1e-12
#: Neuron matches: a neuron is dead when its squared norm is at most (DEAD_EPS · ε)² × the largest squared norm of
#: its layer (with ``center=True`` also × its own uncentred squared norm), ε the machine epsilon of the activations'
#: dtype (float64 when unknown): its vector is then at the rounding level of the layer (float32 noise, a constant
#: neuron after centring). Relative norm 1.8e-15 for float64, 9.5e-7 for float32, 7.8e-3 for float16.
DEAD_EPS = 8
#: Neuron matches: squared relative distance below which a neuron counts as dependent on a span (C++
#: ``kIndepTol``): 1e-12 squared, i.e. a relative distance of 1e-6.
DEP_TOL = 1e-12
#: Neuron matches: a dependent neuron puts 1 in the raw span when n·δ² > ONE_TOL·‖y‖² (C++ ``kOneTol``).
ONE_TOL = 1e-12
#: RBF kernels: the smallest accepted γ·D̄ = (mean squared distance between samples)/(2σ²) of a site. Below it the
#: off-diagonal entries exp(−γD) lie within 1e-8 of 1 and the centred kernel keeps fewer than 8 significant digits
#: (the σ → ∞ limit of RBF CKA is linear CKA).
RBF_MIN_EXPONENT = 1e-8
#: Smallest number of samples of the debiased (HSIC₁) estimators: they divide by n(n − 3).
DEBIASED_MIN_N = 4
#: Smallest chunk of the minibatch CKA estimator (HSIC₁ needs 4 rows).
MINIBATCH_MIN_ROWS = 4
#: Bytes of float64 Grams the minibatch estimator forms per site group at once.
MINIBATCH_GROUP_BYTES = 256 * 2**20

# ---------------------------------------------------------------------------------------------------- planning
#: Default memory budget of the exact statistics: this fraction of the available memory (MemAvailable).
MEMORY_FRACTION = 0.5
#: Rows per batch the planner assumes when the batch size is not known yet.
PLAN_BATCH_ROWS = 4096
#: Memory the planner reserves besides the statistics, the batch buffer and the captured activations: BLAS's and
#: torch's work buffers (measured on the W1/W2 benchmarks: 150–350 MiB on 2 threads).
WORKSPACE_BYTES = 256 * 2**20

# ---------------------------------------------------------------------------------------------------- threads
#: Most threads any repsim pass starts by default.
MAX_DEFAULT_THREADS = 8

# ---------------------------------------------------------------------------------------------------- sketches
#: Sketch widths the planner tries, widest first, when the user allows the approximate feature sketch.
SKETCH_DIMS = (4096, 2048, 1024, 512, 256, 128, 64)
#: Rows of the first batch on which the sketch's error is measured (both sides in Gram space: L · rows² float64).
SKETCH_CHECK_ROWS = 1024
