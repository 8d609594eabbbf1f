// Maximum and minimum (simple) matches of Wang et al. 2018 from Gram statistics (docs/matches.md, docs/math.md §2 ix).
//
// Inputs are the centred blocks Ac = Σ x̄x̄ᵀ (p×p), Bc (q×q), Cc = Σ x̄ȳᵀ (p×q), the means μ, ν and n. The span of a
// set S of neurons of one side is held as a Cholesky factor L of the centred Gram of a *basis* subset of S (columns
// that are linearly independent to a relative tolerance) together with the coordinate matrix Z = L⁻¹·[Gram rows],
// whose columns give, for every neuron of both sides and for ν, its coordinates in the orthonormal basis of
// span(Ȳ_basis). Removing a basis neuron deletes a row/column of L and restores triangularity with Givens rotations,
// applied to the same rows of Z: O(m·(p+q)) per removal. A span is (re)built from scratch only when that is cheaper
// than the downdates — with LAPACK (dpotrf of the basis Gram, dtrsm for Z) when the alive neurons are independent,
// else by promoting neurons one by one in index order. Dependent neurons are promoted into the basis when a removal
// leaves them outside the span. Spans are built lazily: the first sweep of Algorithm 1 prunes X against span(Y)
// before span(X) is ever factorised.
//
// Distances (docs/math.md §2 ix): with q_j the coordinates of x_j and g those of ν,
//   centred span:  d² = Ac_jj − |q_j|²
//   raw span:      d² = Ac_jj − |q_j|² + n·β0²/(1 + n|g|²),  β0 = μ_j − g·q_j,
// unless the constant vector 1 lies in span(Y_S) (a dependent neuron with a constant offset), where d² = Ac_jj − |q_j|².
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "lapack.hpp"

namespace repsim {
namespace match {

// Relative squared tolerances. A neuron joins the basis when its squared residual exceeds kIndepTol·‖ȳ_u‖²
// (relative distance 1e-6); a dependent neuron puts 1 in the raw span when n·δ² > kOneTol·‖y_u‖².
constexpr double kIndepTol = 1e-12;
constexpr double kOneTol = 1e-12;

struct Problem {
    std::int64_t p = 0, q = 0;
    double n = 0;
    bool center = false;
    const double* A = nullptr;   // p×p row-major
    const double* B = nullptr;   // q×q
    const double* C = nullptr;   // p×q
    const double* mu = nullptr;  // p
    const double* nu = nullptr;  // q
};

// The span of a subset of one side ("own" side, size m_all), queried by the neurons of the other side (t_all).
class SpanState {
  public:
    SpanState() = default;

    // own_gram(i, j) = centred Gram of own neurons; cross(t, j) = centred cross Gram (query t, own j).
    SpanState(const double* own_gram, std::int64_t own_ld, const double* cross, std::int64_t cross_ld,
              bool cross_transposed, const double* own_mean, std::int64_t m_all, std::int64_t t_all, double n,
              bool center)
        : m_all_(m_all), t_all_(t_all), n_(n), center_(center), own_gram_(own_gram), own_ld_(own_ld),
          cross_(cross), cross_ld_(cross_ld), cross_t_(cross_transposed), own_mean_(own_mean) {
        cols_ = m_all_ + t_all_ + 1;
        L_.assign(static_cast<std::size_t>(m_all_ * m_all_), 0.0);
        Z_.assign(static_cast<std::size_t>(m_all_ * cols_), 0.0);
        s2_.assign(static_cast<std::size_t>(cols_), 0.0);
        sg_.assign(static_cast<std::size_t>(cols_), 0.0);
        alive_.assign(static_cast<std::size_t>(m_all_), 0);
        in_basis_.assign(static_cast<std::size_t>(m_all_), 0);
        basis_.clear();
    }

    // Start the span from the given own neurons; the factorisation is built on first use (ensure()).
    void init(const std::vector<std::int64_t>& members) {
        for (auto u : members) alive_[u] = 1;
        dirty_ = true;
    }

    void ensure() {
        if (dirty_) {
            rebuild();
            dirty_ = false;
        }
    }

    bool alive(std::int64_t u) const { return alive_[u] != 0; }

    // Remove own neurons from the set. Basis rows are deleted by Givens downdates; when a sweep removes so much of
    // the basis that refactorising the survivors is cheaper (r·m > 2·m'²), the factor is rebuilt instead.
    void remove_many(const std::vector<std::int64_t>& us) {
        if (dirty_) {
            for (auto u : us) alive_[u] = 0;
            return;
        }
        std::vector<std::int64_t> positions;
        for (auto u : us) {
            if (!alive_[u]) continue;
            alive_[u] = 0;
            if (in_basis_[u]) {
                std::int64_t k = 0;
                while (basis_[static_cast<std::size_t>(k)] != u) ++k;
                positions.push_back(k);
            }
        }
        if (positions.empty()) {
            update_has_one();
            return;
        }
        std::sort(positions.begin(), positions.end(), std::greater<std::int64_t>());
        if (rebuild_is_cheaper(positions)) {
            rebuild();
            return;
        }
        for (auto k : positions) {
            in_basis_[basis_[static_cast<std::size_t>(k)]] = 0;
            delete_basis_row(k);
        }
        refresh_column_stats();
        promote_dependents();
        update_has_one();
    }

    // Squared distance of query neuron t to the span, and its squared norm (raw or centred); query_gram is the
    // queries' own Gram (row-major, leading dimension ld), of which only the diagonal is read.
    void distance(std::int64_t t, const double* query_gram, std::int64_t ld, const double* query_mean, double* d2,
                  double* norm2) const {
        const std::int64_t ct = m_all_ + t;
        const double a = query_gram[t * ld + t];
        double d = a - s2_[static_cast<std::size_t>(ct)];
        if (center_) {
            *norm2 = a;
        } else {
            const double mu = query_mean[t];
            *norm2 = a + n_ * mu * mu;
            if (!has_one_) {
                const double beta0 = mu - sg_[static_cast<std::size_t>(ct)];
                d += n_ * beta0 * beta0 / (1.0 + n_ * sg_[static_cast<std::size_t>(cols_ - 1)]);
            }
        }
        *d2 = d > 0.0 ? d : 0.0;
    }

    // LAPACK pays off for the large factorisations of Algorithm 1; the many small states of Algorithm 2, run from
    // several threads, are faster in scalar code (and concurrent callers would contend for OpenBLAS's pool).
    void use_lapack(bool on) { use_lapack_ = on; }

  private:
    bool lapack_ok() const { return use_lapack_ && lapack::routines().ok(); }

    double own_gram(std::int64_t i, std::int64_t j) const { return own_gram_[i * own_ld_ + j]; }
    double cross(std::int64_t t, std::int64_t j) const {
        return cross_t_ ? cross_[j * cross_ld_ + t] : cross_[t * cross_ld_ + j];
    }

    // Full (un-reduced) row of neuron u against every column of Z: own Gram row, cross column, ν_u.
    void full_row(std::int64_t u, double* out) const {
        for (std::int64_t j = 0; j < m_all_; ++j) out[j] = own_gram(u, j);
        for (std::int64_t t = 0; t < t_all_; ++t) out[m_all_ + t] = cross(t, u);
        out[m_all_ + t_all_] = center_ ? 0.0 : own_mean_[u];
    }

    // s2[j] = Σ_r Z[r, j]² (squared projection of column j on the span), sg[j] = Σ_r Z[r, ν]·Z[r, j].
    void refresh_column_stats() {
        std::fill(s2_.begin(), s2_.end(), 0.0);
        std::fill(sg_.begin(), sg_.end(), 0.0);
        const std::int64_t m = static_cast<std::int64_t>(basis_.size());
        for (std::int64_t r = 0; r < m; ++r) add_row_stats(&Z_[static_cast<std::size_t>(r * cols_)]);
    }

    void add_row_stats(const double* row) {
        const double g = row[cols_ - 1];
        for (std::int64_t j = 0; j < cols_; ++j) {
            s2_[static_cast<std::size_t>(j)] += row[j] * row[j];
            sg_[static_cast<std::size_t>(j)] += g * row[j];
        }
    }

    // Givens downdates of the given basis positions (descending) cost ~6·(m−k)·cols flops each, in scalar code; a
    // LAPACK rebuild of the s survivors costs ~s³/3 + s²·(t+1) multiply-adds at BLAS-3 speed (counted as 4× faster).
    bool rebuild_is_cheaper(const std::vector<std::int64_t>& positions) const {
        const double m = static_cast<double>(basis_.size());
        const double s = m - static_cast<double>(positions.size());
        double down = 0.0, mm = m;
        for (auto k : positions) {
            down += 6.0 * (mm - static_cast<double>(k)) * static_cast<double>(cols_);
            mm -= 1.0;
        }
        const double build = 2.0 * (s * s * s / 3.0 + s * s * static_cast<double>(t_all_ + 1));
        return down > (lapack_ok() ? 0.25 : 1.0) * build;
    }

    // Refactorise from the alive neurons: in index order, every neuron independent of those before joins the basis.
    void rebuild() {
        for (auto u : basis_) in_basis_[u] = 0;
        basis_.clear();
        std::fill(s2_.begin(), s2_.end(), 0.0);
        std::fill(sg_.begin(), sg_.end(), 0.0);
        if (!lapack_build()) promote_dependents();
        update_has_one();
    }

    // Fast path of rebuild(): when the alive neurons are independent (every Cholesky pivot above the independence
    // tolerance), all of them form the basis — the same basis as promotion in index order — and L = chol(G_SS) comes
    // from dpotrf, Z's cross and ν columns from one dtrsm, Z's own columns from L itself (Z[i, b_j] = L[j, i]).
    // Returns false, leaving an empty basis, when LAPACK is unavailable or a pivot is too small.
    bool lapack_build() {
        if (!lapack_ok()) return false;
        const auto& lp = lapack::routines();
        std::vector<std::int64_t> cand;
        for (std::int64_t u = 0; u < m_all_; ++u) {
            if (!alive_[u]) continue;
            if (!(own_gram(u, u) > 0.0)) return false;
            cand.push_back(u);
        }
        const std::int64_t c = static_cast<std::int64_t>(cand.size());
        if (c == 0) return true;
        // row-major lower triangle of G_SS = column-major upper triangle (what dpotrf('U') reads)
        for (std::int64_t i = 0; i < c; ++i) {
            double* Li = &L_[static_cast<std::size_t>(i * m_all_)];
            for (std::int64_t j = 0; j <= i; ++j) Li[j] = own_gram(cand[i], cand[j]);
            std::fill(Li + i + 1, Li + m_all_, 0.0);
        }
        char uplo = 'U';
        int nn = static_cast<int>(c), lda = static_cast<int>(m_all_), info = 0;
        lp.dpotrf(&uplo, &nn, L_.data(), &lda, &info);
        bool ok = info == 0;
        for (std::int64_t i = 0; ok && i < c; ++i) {
            const double lii = L_[static_cast<std::size_t>(i * m_all_ + i)];
            ok = lii * lii > kIndepTol * own_gram(cand[i], cand[i]);
        }
        if (!ok) {
            std::fill(L_.begin(), L_.begin() + c * m_all_, 0.0);
            return false;
        }
        for (std::int64_t i = 0; i < c; ++i) {
            double* Zi = &Z_[static_cast<std::size_t>(i * cols_)];
            std::fill(Zi, Zi + m_all_, 0.0);
            for (std::int64_t j = i; j < c; ++j) Zi[cand[j]] = L_[static_cast<std::size_t>(j * m_all_ + i)];
            for (std::int64_t t = 0; t < t_all_; ++t) Zi[m_all_ + t] = cross(t, cand[i]);
            Zi[cols_ - 1] = center_ ? 0.0 : own_mean_[cand[i]];
        }
        // Z[:, cross|ν] = L⁻¹ R  ⇔ (column-major) Zᵀ·Lᵀ = Rᵀ, and the row-major L buffer is Lᵀ column-major.
        char side = 'R', tr = 'N', diag = 'N';
        int rows = static_cast<int>(t_all_ + 1), ldb = static_cast<int>(cols_);
        double one = 1.0;
        lp.dtrsm(&side, &uplo, &tr, &diag, &rows, &nn, &one, L_.data(), &lda, &Z_[static_cast<std::size_t>(m_all_)],
                 &ldb);
        basis_ = cand;
        for (auto u : cand) in_basis_[u] = 1;
        refresh_column_stats();
        return true;
    }

    // Promote every alive non-basis neuron whose residual to the span exceeds the independence tolerance.
    void promote_dependents() {
        for (std::int64_t u = 0; u < m_all_; ++u) {
            if (alive_[u] && !in_basis_[u]) try_promote(u);
        }
    }

    void try_promote(std::int64_t u) {
        const std::int64_t m = static_cast<std::int64_t>(basis_.size());
        const double buu = own_gram(u, u);
        if (!(buu > 0.0)) return;
        const double res = buu - s2_[static_cast<std::size_t>(u)];
        if (!(res > kIndepTol * buu)) return;
        const double diag = std::sqrt(res);
        double* Lrow = &L_[static_cast<std::size_t>(m * m_all_)];
        for (std::int64_t r = 0; r < m; ++r) Lrow[r] = Z_[static_cast<std::size_t>(r * cols_ + u)];
        Lrow[m] = diag;
        double* Zrow = &Z_[static_cast<std::size_t>(m * cols_)];
        full_row(u, Zrow);
        for (std::int64_t r = 0; r < m; ++r) {
            const double c = Lrow[r];
            if (c == 0.0) continue;
            const double* zr = &Z_[static_cast<std::size_t>(r * cols_)];
            for (std::int64_t j = 0; j < cols_; ++j) Zrow[j] -= c * zr[j];
        }
        const double inv = 1.0 / diag;
        for (std::int64_t j = 0; j < cols_; ++j) Zrow[j] *= inv;
        basis_.push_back(u);
        in_basis_[u] = 1;
        add_row_stats(Zrow);
    }

    // Delete basis position k: drop row/column k of L and re-triangularise with Givens rotations, rotating the
    // same rows of Z (docs/matches.md: downdate instead of refactorising).
    void delete_basis_row(std::int64_t k) {
        const std::int64_t m = static_cast<std::int64_t>(basis_.size());
        std::vector<double> zx(Z_.begin() + k * cols_, Z_.begin() + (k + 1) * cols_);
        std::vector<double> lx(static_cast<std::size_t>(m), 0.0);  // the column L[:, k] below the diagonal
        for (std::int64_t i = k + 1; i < m; ++i) lx[static_cast<std::size_t>(i)] = L_[i * m_all_ + k];
        for (std::int64_t c = k + 1; c < m; ++c) {
            double& lcc = L_[c * m_all_ + c];
            const double xc = lx[static_cast<std::size_t>(c)];
            const double r = std::hypot(lcc, xc);
            if (r == 0.0) continue;
            const double cs = lcc / r, sn = xc / r;
            lcc = r;
            for (std::int64_t i = c + 1; i < m; ++i) {
                double& lic = L_[i * m_all_ + c];
                double& xi = lx[static_cast<std::size_t>(i)];
                const double a = lic, b = xi;
                lic = cs * a + sn * b;
                xi = -sn * a + cs * b;
            }
            double* zc = &Z_[static_cast<std::size_t>(c * cols_)];
            double* zxp = zx.data();
            for (std::int64_t j = 0; j < cols_; ++j) {
                const double a = zc[j], b = zxp[j];
                zc[j] = cs * a + sn * b;
                zxp[j] = -sn * a + cs * b;
            }
        }
        // physically remove row k and column k
        for (std::int64_t i = k + 1; i < m; ++i) {
            double* dst = &L_[static_cast<std::size_t>((i - 1) * m_all_)];
            const double* src = &L_[static_cast<std::size_t>(i * m_all_)];
            for (std::int64_t j = 0; j < k; ++j) dst[j] = src[j];
            for (std::int64_t j = k + 1; j <= i; ++j) dst[j - 1] = src[j];
            for (std::int64_t j = i; j < m; ++j) dst[j] = 0.0;
        }
        for (std::int64_t j = 0; j < m; ++j) L_[static_cast<std::size_t>((m - 1) * m_all_ + j)] = 0.0;
        std::copy(Z_.begin() + (k + 1) * cols_, Z_.begin() + m * cols_, Z_.begin() + k * cols_);
        std::fill(Z_.begin() + (m - 1) * cols_, Z_.begin() + m * cols_, 0.0);
        basis_.erase(basis_.begin() + k);
    }

    // Raw span only: does 1 lie in span(Y_S)? True when an alive dependent neuron has a constant offset
    // δ_u = ν_u − g·z_u from the basis combination that reproduces its centred vector.
    void update_has_one() {
        has_one_ = false;
        if (center_) return;
        for (std::int64_t u = 0; u < m_all_; ++u) {
            if (!alive_[u] || in_basis_[u]) continue;
            const double delta = own_mean_[u] - sg_[static_cast<std::size_t>(u)];
            const double norm2 = own_gram(u, u) + n_ * own_mean_[u] * own_mean_[u];
            if (n_ * delta * delta > kOneTol * norm2) {
                has_one_ = true;
                return;
            }
        }
    }

    std::int64_t m_all_ = 0, t_all_ = 0, cols_ = 0;
    double n_ = 0;
    bool center_ = false;
    const double* own_gram_ = nullptr;
    std::int64_t own_ld_ = 0;
    const double* cross_ = nullptr;
    std::int64_t cross_ld_ = 0;
    bool cross_t_ = false;
    const double* own_mean_ = nullptr;
    std::vector<double> L_, Z_, s2_, sg_;
    std::vector<char> alive_, in_basis_;
    std::vector<std::int64_t> basis_;
    bool has_one_ = false;
    bool dirty_ = false;
    bool use_lapack_ = true;
};

// The state of Algorithm 1: the current sets X, Y and the spans of both.
class MatchState {
  public:
    MatchState(const Problem& pr, const std::vector<char>& start_x, const std::vector<char>& start_y)
        : pr_(pr) {
        ax_.resize(static_cast<std::size_t>(pr.p));
        ay_.resize(static_cast<std::size_t>(pr.q));
        // span of Y queried by X: own = Y (B), cross(t = x, j = y) = C[x, y]
        span_y_ = SpanState(pr.B, pr.q, pr.C, pr.q, false, pr.nu, pr.q, pr.p, pr.n, pr.center);
        // span of X queried by Y: own = X (A), cross(t = y, j = x) = C[x, y] read transposed
        span_x_ = SpanState(pr.A, pr.p, pr.C, pr.q, true, pr.mu, pr.p, pr.q, pr.n, pr.center);
        std::vector<std::int64_t> mx, my;
        for (std::int64_t i = 0; i < pr.p; ++i)
            if (start_x[i]) mx.push_back(i);
        for (std::int64_t j = 0; j < pr.q; ++j)
            if (start_y[j]) my.push_back(j);
        for (auto i : mx) ax_[i] = 1;
        for (auto j : my) ay_[j] = 1;
        span_x_.init(mx);
        span_y_.init(my);
    }

    // Algorithm 1 from the current sets: remove all violators of one side, then the other, until stable.
    // With keep ≥ 0 (x: keep < p, y: p + j), stop early and return false as soon as that neuron is removed.
    bool eliminate(double eps, std::int64_t keep = -1) {
        const double e2 = eps * eps;
        bool changed = true;
        while (changed) {
            changed = false;
            changed |= sweep(true, e2);
            if (keep >= 0 && !contains(keep)) return false;
            changed |= sweep(false, e2);
            if (keep >= 0 && !contains(keep)) return false;
        }
        return true;
    }

    void use_lapack(bool on) {
        span_x_.use_lapack(on);
        span_y_.use_lapack(on);
    }

    bool contains(std::int64_t v) const { return v < pr_.p ? ax_[v] != 0 : ay_[v - pr_.p] != 0; }

    void remove_x(std::int64_t i) { remove_x(std::vector<std::int64_t>{i}); }
    void remove_y(std::int64_t j) { remove_y(std::vector<std::int64_t>{j}); }
    void remove_x(const std::vector<std::int64_t>& is) {
        for (auto i : is) ax_[i] = 0;
        span_x_.remove_many(is);
    }
    void remove_y(const std::vector<std::int64_t>& js) {
        for (auto j : js) ay_[j] = 0;
        span_y_.remove_many(js);
    }

    const std::vector<char>& x() const { return ax_; }
    const std::vector<char>& y() const { return ay_; }

  private:
    // Remove the violators of side X (is_x) or Y against the other side's current span.
    bool sweep(bool is_x, double e2) {
        SpanState& other = is_x ? span_y_ : span_x_;
        const std::vector<char>& alive = is_x ? ax_ : ay_;
        const std::int64_t count = is_x ? pr_.p : pr_.q;
        const double* gram = is_x ? pr_.A : pr_.B;
        const double* mean = is_x ? pr_.mu : pr_.nu;
        other.ensure();
        std::vector<std::int64_t> out;
        for (std::int64_t i = 0; i < count; ++i) {
            if (!alive[i]) continue;
            double d2, nn;
            other.distance(i, gram, count, mean, &d2, &nn);
            if (d2 > e2 * nn) out.push_back(i);
        }
        if (out.empty()) return false;
        if (is_x)
            remove_x(out);
        else
            remove_y(out);
        return true;
    }

    Problem pr_;
    std::vector<char> ax_, ay_;
    SpanState span_x_, span_y_;
};

// Algorithm 2: the v-minimum match from a maximum-match state. v < p is a neuron of X, v ≥ p is Y's neuron v − p.
inline MatchState minimum_match(const MatchState& maximum, std::int64_t v, std::int64_t p, std::int64_t q,
                                double eps) {
    MatchState cur = maximum;
    for (std::int64_t u = 0; u < p + q; ++u) {
        if (u == v) continue;
        const bool in = u < p ? cur.x()[u] != 0 : cur.y()[u - p] != 0;
        if (!in) continue;
        MatchState trial = cur;
        if (u < p)
            trial.remove_x(u);
        else
            trial.remove_y(u - p);
        if (trial.eliminate(eps, v)) cur = std::move(trial);
    }
    return cur;
}

// A problem restricted to some neurons of each side, owning its blocks (not copyable: pr points into them).
struct Restricted {
    std::vector<double> A, B, C, mu, nu;
    Problem pr;
    Restricted() = default;
    Restricted(const Restricted&) = delete;
    Restricted& operator=(const Restricted&) = delete;
};

inline void restrict_problem(const Problem& pr, const std::vector<std::int64_t>& ix,
                             const std::vector<std::int64_t>& iy, Restricted& out) {
    const std::int64_t rp = static_cast<std::int64_t>(ix.size()), rq = static_cast<std::int64_t>(iy.size());
    out.A.resize(static_cast<std::size_t>(rp * rp));
    out.B.resize(static_cast<std::size_t>(rq * rq));
    out.C.resize(static_cast<std::size_t>(rp * rq));
    out.mu.resize(static_cast<std::size_t>(rp));
    out.nu.resize(static_cast<std::size_t>(rq));
    for (std::int64_t i = 0; i < rp; ++i) {
        for (std::int64_t k = 0; k < rp; ++k) out.A[i * rp + k] = pr.A[ix[i] * pr.p + ix[k]];
        for (std::int64_t k = 0; k < rq; ++k) out.C[i * rq + k] = pr.C[ix[i] * pr.q + iy[k]];
        out.mu[i] = pr.mu[ix[i]];
    }
    for (std::int64_t j = 0; j < rq; ++j) {
        for (std::int64_t k = 0; k < rq; ++k) out.B[j * rq + k] = pr.B[iy[j] * pr.q + iy[k]];
        out.nu[j] = pr.nu[iy[j]];
    }
    out.pr = pr;
    out.pr.p = rp;
    out.pr.q = rq;
    out.pr.A = out.A.data();
    out.pr.B = out.B.data();
    out.pr.C = out.C.data();
    out.pr.mu = out.mu.data();
    out.pr.nu = out.nu.data();
}

// Algorithm 2 for every v in vs (x: v < p, y: p + j) from the maximum match (max_x, max_y) at eps, as found by
// Algorithm 1; returns the (x mask, y mask) of each v-minimum match. Neurons outside the maximum match never
// return, so the search runs on the blocks restricted to it (per-trial copies and downdates scale with the match,
// not the layers), in scalar code (many small states; concurrent LAPACK callers would contend), over n_threads
// threads.
inline std::vector<std::pair<std::vector<char>, std::vector<char>>> minimum_matches(
    const Problem& pr, const std::vector<char>& max_x, const std::vector<char>& max_y, double eps,
    const std::vector<std::int64_t>& vs, int n_threads) {
    std::vector<std::int64_t> ix, iy, pos(static_cast<std::size_t>(pr.p + pr.q), -1);
    for (std::int64_t i = 0; i < pr.p; ++i)
        if (max_x[i]) pos[i] = static_cast<std::int64_t>(ix.size()), ix.push_back(i);
    for (std::int64_t j = 0; j < pr.q; ++j)
        if (max_y[j]) pos[pr.p + j] = static_cast<std::int64_t>(iy.size()), iy.push_back(j);
    for (auto x : vs)
        if (pos[x] < 0) throw std::invalid_argument("every v must belong to the maximum match");
    const std::int64_t rp = static_cast<std::int64_t>(ix.size()), rq = static_cast<std::int64_t>(iy.size());
    Restricted red;
    restrict_problem(pr, ix, iy, red);
    MatchState reduced(red.pr, std::vector<char>(rp, 1), std::vector<char>(rq, 1));
    reduced.eliminate(eps);
    for (std::int64_t k = 0; k < rp + rq; ++k)
        if (!reduced.contains(k)) throw std::invalid_argument("the given sets are not an eps-match (pass the maximum match)");
    reduced.use_lapack(false);

    const std::int64_t nv = static_cast<std::int64_t>(vs.size());
    std::vector<std::pair<std::vector<char>, std::vector<char>>> results(static_cast<std::size_t>(nv));
    const int workers = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(n_threads, nv)));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
    std::vector<std::thread> pool;
    for (int t = 0; t < workers; ++t) {
        pool.emplace_back([&, t]() {
            try {
                for (std::int64_t k = t; k < nv; k += workers) {
                    const std::int64_t x = vs[static_cast<std::size_t>(k)];
                    const std::int64_t rv = x < pr.p ? pos[x] : rp + pos[x];
                    auto m = minimum_match(reduced, rv, rp, rq, eps);
                    std::vector<char> mx(static_cast<std::size_t>(pr.p), 0), my(static_cast<std::size_t>(pr.q), 0);
                    for (std::int64_t i = 0; i < rp; ++i) mx[ix[i]] = m.x()[i];
                    for (std::int64_t j = 0; j < rq; ++j) my[iy[j]] = m.y()[j];
                    results[static_cast<std::size_t>(k)] = {std::move(mx), std::move(my)};
                }
            } catch (...) {
                errors[static_cast<std::size_t>(t)] = std::current_exception();
            }
        });
    }
    for (auto& th : pool) th.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    return results;
}

}  // namespace match
}  // namespace repsim
