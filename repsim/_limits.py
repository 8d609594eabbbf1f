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
#: A feature whose variance is below CONST_RTOL × (the largest variance of its site) counts as constant; likewise a
#: sample (RSA's cosine / correlation RDMs) whose squared norm is below CONST_RTOL × the sum of the magnitudes of the
#: Gram terms it is formed from (docs/math.md §8).
CONST_RTOL = 1e-12
#: Variance fractions are compared with this slack (SVCCA's 99 % rule, PCA ranks): keep · (1 − KEEP_SLACK).
KEEP_SLACK = 1e-12
#: Shape metrics (netrep's ``whiten(eigval_tol=1e-7)``, reproduced exactly): eigenvalues of a site's centred
#: sum-of-squares matrix Σ x̃x̃ᵀ are clipped below at this absolute value before the partial whitening, and
#: alpha > 1 − SHAPE_EIGVAL_TOL means no whitening at all (docs/math.md §9.1).
SHAPE_EIGVAL_TOL = 1e-7
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
#: (the σ → ∞ limit of RBF CKA is linear CKA). Laplace kernels exp(−√D/σ) apply it to √D̄/σ, for the same reason.
RBF_MIN_EXPONENT = 1e-8
#: RSA's rank comparisons (Spearman, Kendall): RDM entries closer than RDM_TIE_RTOL × the largest entry are tied.
#: Entries formed from the Gram (K_ii + K_jj − 2K_ij) carry rounding errors of a few ulps of the largest entry, so
#: distances that are equal in exact arithmetic (integer data, duplicated samples) would otherwise be ranked apart.
RDM_TIE_RTOL = 1e-12
#: Smallest number of samples of the debiased (HSIC₁) estimators: they divide by n(n − 3).
DEBIASED_MIN_N = 4
#: Smallest chunk of the minibatch CKA estimator (HSIC₁ needs 4 rows).
MINIBATCH_MIN_ROWS = 4
#: Bytes of float64 Grams the minibatch estimator forms per site group at once.
MINIBATCH_GROUP_BYTES = 256 * 2**20

# ---------------------------------------------------------------------------------------------------- planning
#: Default memory budget of the exact statistics: this fraction of the available memory (MemAvailable).
MEMORY_FRACTION = 0.5
#: Samples per batch when compare() is given one tensor holding every sample (it is cut along its first axis).
DATA_BATCH_ROWS = 256
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

# ---------------------------------------------------------------------------------------------------- files (repsim.io)
#: Most rows per batch read from activation files (repsim.io): a batch of every selected layer of every file is held
#: once as read (source dtype) while the fused pass converts it chunk by chunk (UPDATE_ROWS) — fewer, larger reads,
#: and the statistics' per-batch overhead amortised.
FILE_BATCH_ROWS = 4096
#: Fewest rows per batch read from files, however small the memory budget (below it the per-read overhead dominates).
FILE_MIN_BATCH_ROWS = 64
#: Bytes of decoded Parquet row groups / compressed ``.npz`` rows a streamed source keeps for reads out of order (a
#: file whose rows are needed in another order than stored is re-read when its row groups do not fit).
FILE_CACHE_BYTES = 256 * 2**20

# ---------------------------------------------------------------------------------------------------- neighbourhoods
#: Exact k-NN (repsim/_knn.py, docs/math.md §7.2): edge of one float32 screening tile of scores — 16 MiB, the only
#: quadratic buffer (with its transpose), never an n × n matrix; large enough for SGEMM to run at full speed.
KNN_TILE = 2048
#: Exact k-NN: candidates kept per row by the float32 screen beyond the k wanted (k + max(KNN_MARGIN, k)); a row whose
#: k-th float32 score is not certified by them (scores within the rounding bound of the cut) is recomputed in fp64.
KNN_MARGIN = 16
#: Exact k-NN: safety factor on the float32 rounding bound (d + 6)·u·‖x_i‖‖x_j‖ of a screened score (Higham's
#: γ_d for any summation order, plus the rounding of the float32 copy and of the row terms).
KNN_BOUND_SAFETY = 2.0
#: ActivationStore: default cap on the rows kept per site (the k-NN cost grows as n²·d; 200,000 rows of 768
#: float32 features are 0.6 GB per site). Raise it with ``max_rows=``.
ACTIVATION_MAX_ROWS = 200_000
#: compare: rows kept (a uniform reservoir sample of the stream) for the measures that need the activations themselves
#: (the neighbourhood family); ``compare(..., activation_rows=...)`` sets it.
COMPARE_ACTIVATION_ROWS = 10_000
#: Smallest number of samples of CKNNA's unbiased form (its HSIC divides by n(n − 3)).
KNN_MIN_N = 4
