"""The neighbourhood family (docs/math.md §7): every measure against its brute-force float64 oracle (tests/naive_knn.py)
and against the reference implementations' code (platonic-rep's mutual_knn / cknna in torch float32, ReSi's
sklearn-based functions), structured data, ties, k edge cases, the exact tiled k-NN, the ActivationStore, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import naive_knn as nk
import repsim
from repsim._knn import knn
from repsim.metrics.neighbors import ENTRIES

NAMES = [m.name for m in ENTRIES]
ORACLE = {
    "mutual_knn": nk.mutual_knn, "knn_jaccard": nk.knn_jaccard, "rank_similarity": nk.rank_similarity,
    "joint_rank_jaccard": nk.joint_rank_jaccard, "cknna": nk.cknna,
    "second_order_cosine": lambda X, Y, k, distance="cosine": nk.second_order_cosine(X, Y, k),
}
DISTANCES = {"cknna": ("cosine", "inner_product"), "second_order_cosine": ("cosine",)}


def _pair(rng, n=160, p=12, q=9, noise=0.6, dtype=np.float64):
    Z = rng.normal(size=(n, 4))
    X = Z @ rng.normal(size=(4, p)) + noise * rng.normal(size=(n, p))
    Y = Z @ rng.normal(size=(4, q)) + noise * rng.normal(size=(n, q))
    return X.astype(dtype), Y.astype(dtype)


def _call(name, X, Y, k, distance):
    opts = {"k": k} if name == "second_order_cosine" else {"k": k, "distance": distance}
    return repsim.measure(name)(X, Y, **opts)


# ---------------------------------------------------------------------------------------------------- the k-NN
@pytest.mark.parametrize("distance", ["cosine", "inner_product", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_knn_equals_the_full_sort(distance, dtype, rng):
    X = rng.normal(size=(530, 17)).astype(dtype) + (3.0 if distance == "euclidean" else 0.0)
    want_i, want_s = nk.neighbours(X, 9, distance)
    for tile in (64, 100, 4096):
        got = knn(X, 9, distance, tile=tile, n_threads=2)
        np.testing.assert_array_equal(got.index, want_i)
        np.testing.assert_allclose(got.score, want_s, rtol=1e-12, atol=1e-12)
    k1 = knn(X, 9, distance, n_threads=1)
    np.testing.assert_array_equal(k1.index, want_i)


def test_ties_go_to_the_lower_index_and_uncertified_rows_are_recomputed(rng):
    # integer rows (exact scores, many exact ties) for the inner product and Euclidean; duplicated real rows for the
    # cosine (bit-equal scores; mathematically equal cosines of different rows may round differently)
    ints = np.repeat(rng.integers(-2, 3, size=(40, 3)).astype(np.float64), 6, axis=0)[rng.permutation(240)]
    reals = np.repeat(rng.normal(size=(40, 3)), 6, axis=0)[rng.permutation(240)]
    for distance, X in (("euclidean", ints), ("inner_product", ints), ("cosine", reals)):
        want, _ = nk.neighbours(X, 7, distance)
        got = knn(X, 7, distance)
        np.testing.assert_array_equal(got.index, want)
        if distance == "euclidean":
            assert got.recomputed > 0  # exact ties at the cut cannot be certified by the float32 screen


def test_k_edge_cases(rng):
    X, Y = _pair(rng, n=30)
    full = knn(X, 29)  # every other sample: the complete list, no screening cut
    np.testing.assert_array_equal(full.index, nk.neighbours(X, 29)[0])
    assert repsim.measure("mutual_knn")(X, Y, k=29) == 1.0
    for name in NAMES:
        with pytest.raises(ValueError, match="k=30 must be at most 29"):
            repsim.measure(name)(X, Y, k=30)
        with pytest.raises(ValueError, match="k must be >="):
            repsim.measure(name)(X, Y, k=0)
        with pytest.raises(TypeError, match="k must be an int"):
            repsim.measure(name)(X, Y, k=2.5)
    with pytest.raises(ValueError, match="k must be >= 2"):
        repsim.measure("cknna")(X, Y, k=1)
    assert repsim.measure("cknna")(X, Y, k=30, unbiased=False) == pytest.approx(nk.cknna(X, Y, 30, unbiased=False))


# ---------------------------------------------------------------------------------------------------- oracles
@pytest.mark.parametrize("name", NAMES)
def test_measure_equals_its_oracle(name, rng):
    X, Y = _pair(rng)
    for distance in DISTANCES.get(name, ("cosine", "inner_product", "euclidean")):
        for k in (1, 5, 12) if name != "cknna" else (2, 5, 12):
            np.testing.assert_allclose(_call(name, X, Y, k, distance), ORACLE[name](X, Y, k, distance=distance),
                                       rtol=1e-10, atol=1e-12, err_msg=f"{name} {distance} k={k}")
    if name == "cknna":
        np.testing.assert_allclose(repsim.measure(name)(X, Y, k=6, unbiased=False),
                                   nk.cknna(X, Y, 6, unbiased=False), rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_structured_data(name, rng):
    X, Y = _pair(rng, n=300)
    assert _call(name, X, X.copy(), 10, "cosine") == pytest.approx(1.0, abs=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    base = _call(name, X, Y, 10, "cosine")
    assert _call(name, 3.5 * X @ Q, Y, 10, "cosine") == pytest.approx(base, abs=1e-12)  # rotation, scale
    assert _call(name, X @ Q, X, 10, "cosine") == pytest.approx(1.0, abs=1e-12)
    N1, N2 = rng.normal(size=(2, 2000, 30))
    noise = _call(name, N1, N2, 10, "cosine")
    chance = {"mutual_knn": 10 / 1999, "knn_jaccard": 10 / 1999 / 2, "cknna": 0.0}
    if name in chance:
        assert abs(noise - chance[name]) < 0.02, (name, noise)
    elif name != "second_order_cosine":
        assert noise < 0.02, (name, noise)
    if name != "second_order_cosine":  # distance profiles of noise are flat (all ≈ 1): its chance level is high
        assert base > noise + 0.04, (name, base, noise)


def test_euclidean_is_translation_invariant(rng):
    X, Y = _pair(rng)
    a = repsim.measure("knn_jaccard")(X, Y, distance="euclidean")
    assert repsim.measure("knn_jaccard")(X + 40.0, Y - 7.0, distance="euclidean") == pytest.approx(a, abs=1e-12)


# ---------------------------------------------------------------------------------------------------- references
def _platonic(torch):
    """platonic-rep's metrics.py (minyoungg/platonic-rep): compute_nearest_neighbors, mutual_knn, cknna and
    hsic_unbiased / hsic_biased, transcribed."""

    def nn(feats, topk):
        return (feats @ feats.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :topk]

    def mutual_knn(A, B, topk):
        ka, kb = nn(A, topk), nn(B, topk)
        n = ka.shape[0]
        r = torch.arange(n).unsqueeze(1)
        ma, mb = torch.zeros(n, n), torch.zeros(n, n)
        ma[r, ka] = 1.0
        mb[r, kb] = 1.0
        return ((ma * mb).sum(dim=1) / topk).mean().item()

    def hsic_unbiased(K, L):
        m = K.shape[0]
        Kt, Lt = K.clone().fill_diagonal_(0), L.clone().fill_diagonal_(0)
        v = (torch.sum(Kt * Lt.T) + torch.sum(Kt) * torch.sum(Lt) / ((m - 1) * (m - 2))
             - 2 * torch.sum(torch.mm(Kt, Lt)) / (m - 2))
        return v / (m * (m - 3))

    def hsic_biased(K, L):
        H = torch.eye(K.shape[0], dtype=K.dtype) - 1 / K.shape[0]
        return torch.trace(K @ H @ L @ H)

    def cknna(A, B, topk, unbiased=True):
        n = A.shape[0]
        K, L = A @ A.T, B @ B.T

        def sim(K, L):
            Kh = K.clone().fill_diagonal_(float("-inf")) if unbiased else K
            Lh = L.clone().fill_diagonal_(float("-inf")) if unbiased else L
            _, ik = torch.topk(Kh, topk, dim=1)
            _, il = torch.topk(Lh, topk, dim=1)
            mask = torch.zeros(n, n).scatter_(1, ik, 1) * torch.zeros(n, n).scatter_(1, il, 1)
            return (hsic_unbiased if unbiased else hsic_biased)(mask * K, mask * L)

        return sim(K, L).item() / (torch.sqrt(sim(K, K) * sim(L, L)) + 1e-6).item()

    return mutual_knn, cknna


@pytest.mark.parametrize("n", [300, 2000])
def test_platonic_rep_reference_in_float32(n, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    ref_mknn, ref_cknna = _platonic(torch)
    X, Y = _pair(rng, n=n, p=64, q=48, noise=1.0, dtype=np.float32)
    A, B = F.normalize(torch.from_numpy(X), dim=-1), F.normalize(torch.from_numpy(Y), dim=-1)
    # platonic-rep's pipeline normalises the rows (compute_score, normalize=True): repsim's cosine default
    # identical neighbour sets: the values are multiples of 1/(nk), platonic-rep averages them in float32
    assert repsim.measure("mutual_knn")(X, Y, k=10) == pytest.approx(ref_mknn(A, B, 10), rel=1e-6, abs=0)
    np.testing.assert_allclose(repsim.measure("cknna")(X, Y, k=10, eps=1e-6), ref_cknna(A, B, 10), rtol=2e-4)
    np.testing.assert_allclose(repsim.measure("cknna")(X, Y, k=10, eps=1e-6, unbiased=False),
                               ref_cknna(A, B, 10, unbiased=False), rtol=2e-4)
    # the ids of platonic-rep and of the similarity repository (its raw call on the features as given)
    assert repsim.measure("AlignmentMetrics.cknna").preset == {"eps": 1e-6}
    assert repsim.measure("AlignmentMetrics.cknna")(X, Y, k=10) == repsim.measure("cknna")(X, Y, k=10, eps=1e-6)
    np.testing.assert_allclose(repsim.measure("cknna")(X, Y, k=10, eps=1e-6),
                               repsim.measure("cknna")(X, Y, k=10, eps=0.0), rtol=1e-2)
    if n == 300:
        Xr, Yr = torch.from_numpy(X), torch.from_numpy(Y)
        assert repsim.measure("measure/platonic/mutual_knn-topk={topk}")(X, Y) == pytest.approx(ref_mknn(Xr, Yr, 10), rel=1e-6, abs=0)
        np.testing.assert_allclose(repsim.measure("measure/platonic/cknna-topk={topk}")(X, Y),
                                   ref_cknna(Xr, Yr, 10), rtol=2e-4)


def test_resi_reference(rng):
    """ReSi's nearest_neighbor.py (mklabunde/resi), transcribed: sklearn's brute-force cosine k+1 search."""
    sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
    import scipy.spatial.distance
    import sklearn.metrics

    def top_k(R, k):
        nns = sklearn_neighbors.NearestNeighbors(n_neighbors=k + 1, metric="cosine", n_jobs=1).fit(R)
        return nns.kneighbors(R)[1][:, 1:]

    def rank_i(joint, a, b):
        if not joint:
            return 0
        norm = sum(1 / t for t in range(1, len(joint) + 1))
        s = 0
        for j in joint:
            ra, rb = np.argwhere(a == j)[0][0] + 1, np.argwhere(b == j)[0][0] + 1
            s += 2 / ((1 + abs(ra - rb)) * (ra + rb))
        return s / norm

    X, Y = _pair(rng, n=250)
    a, b = top_k(X, 10), top_k(Y, 10)
    jac = [len(set(a[i]) & set(b[i])) / len(set(a[i]) | set(b[i])) for i in range(len(a))]
    rank = [rank_i(list(set(a[i]) & set(b[i])), a[i], b[i]) for i in range(len(a))]
    DX = sklearn.metrics.pairwise_distances(X, metric="cosine")
    DY = sklearn.metrics.pairwise_distances(Y, metric="cosine")
    socs = [1 - scipy.spatial.distance.cosine(DX[i, list(set(a[i]) | set(b[i]))], DY[i, list(set(a[i]) | set(b[i]))])
            for i in range(len(a))]
    np.testing.assert_allclose(repsim.measure("JaccardSimilarity")(X, Y), np.mean(jac), rtol=1e-12)
    np.testing.assert_allclose(repsim.measure("RankSimilarity")(X, Y), np.mean(rank), rtol=1e-12)
    np.testing.assert_allclose(repsim.measure("joint_rank_jaccard_similarity")(X, Y),
                               np.mean(np.array(jac) * np.array(rank)), rtol=1e-12)
    np.testing.assert_allclose(repsim.measure("SecondOrderCosineSimilarity")(X, Y), np.mean(socs), rtol=1e-9)


# ---------------------------------------------------------------------------------------------------- the store
def test_store_batches_memmap_save_load_and_matrix(rng, tmp_path):
    X, Y = _pair(rng, n=200, dtype=np.float32)
    path = tmp_path / "x.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    one = repsim.ActivationStore().update({"x": mm, "y": Y}, copy=False)
    assert np.shares_memory(one.rows("x"), mm) and one.rows("x").dtype == np.float32  # no copy, no float64
    s = repsim.ActivationStore(max_rows=200)
    for r0 in range(0, 200, 37):
        s.update({"x": X[r0 : r0 + 37], "y": Y[r0 : r0 + 37]})
    assert s.n == 200 and s.sites == ("x", "y") and s.space == "activations"
    for name in NAMES:
        M = s.matrix(name, k=5)
        assert M["x", "y"] == pytest.approx(repsim.measure(name)(X, Y, k=5), abs=1e-12)
        assert M["x", "x"] == pytest.approx(1.0, abs=1e-12)
        assert one.matrix(name, k=5)["x", "y"] == M["x", "y"]
    s.save(tmp_path / "s.npz")
    back = repsim.ActivationStore.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.matrix("mutual_knn").values, s.matrix("mutual_knn").values)
    with pytest.raises(ValueError, match="over max_rows=200"):
        s.update({"x": X[:1], "y": Y[:1]})
    assert s.n == 200  # refused whole
    with pytest.raises(ValueError, match="no activations form"):
        s.matrix("cka")
    with pytest.raises(ValueError, match="no feature-space form.*ActivationStore"):
        repsim.Moments().update({"a": X, "b": Y}).matrix("mutual_knn")
    with pytest.raises(ValueError, match="no Gram-space form.*ActivationStore"):
        repsim.measure("cknna")(X, Y, space="gram")


def test_bad_input(rng):
    X, Y = _pair(rng, n=50)
    m = repsim.measure("mutual_knn")
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X: NaN at row 3"):
        m(bad, Y)
    zero = X.copy()
    zero[7] = 0.0
    with pytest.raises(ValueError, match="row 7 is zero"):
        m(zero, Y)
    assert 0 <= m(zero, Y, distance="euclidean") <= 1
    with pytest.raises(ValueError, match="same number of rows"):
        m(X, Y[:-1])
    with pytest.raises(TypeError, match="float"):
        m(X.astype(int), Y)
    with pytest.raises(ValueError, match="distance must be one of"):
        m(X, Y, distance="manhattan")
    with pytest.raises(ValueError, match="distance must be one of"):
        repsim.measure("cknna")(X, Y, distance="euclidean")
    with pytest.raises(TypeError, match="unexpected option"):
        repsim.measure("second_order_cosine")(X, Y, distance="euclidean")
    with pytest.raises(ValueError, match="at least 4 samples"):
        repsim.measure("cknna")(X[:3], Y[:3], k=2)
    with pytest.raises(ValueError, match="max_rows must be a positive int"):
        repsim.ActivationStore(max_rows=0)
    with pytest.raises(ValueError, match="ActivationStore is empty"):
        repsim.ActivationStore().matrix("mutual_knn")
