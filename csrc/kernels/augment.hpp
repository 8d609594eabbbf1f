// Fused per-batch pass of the Moments accumulator (docs/math.md §1).
//
// For every row i of a batch and every site s it writes, into one row-major fp64 buffer W (rows x d),
//   W[i, off_s : off_s + p_s] = x_s[i] - c_s          (shift and conversion to fp64)
//   W[i, P + s]               = |x_s[i] - c_s|^2      (row norm of the shifted row)
//   W[i, P + L]               = 1                     (the ones column)
// with P = sum of p_s, L = number of sites and d = P + L + 1. The caller then applies one SYRK, G += W^T W.
//
// Plain C++17, no Python headers: bindings.cpp is the only pybind11 file.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

namespace repsim {

// One site of a batch: a C-contiguous (rows x cols) array of float or double and its fp64 reference.
struct SiteView {
    const void* data = nullptr;
    bool is_float32 = false;
    std::int64_t cols = 0;
    const double* reference = nullptr;
};

// The first (site, row) whose shifted row is not finite or whose squared norm exceeds kMaxNorm, or (-1, -1).
struct BadEntry {
    std::int64_t site = -1;
    std::int64_t row = -1;
};

// Largest accepted squared row norm |x - c|^2: its square (a fourth-order statistic) must stay far from overflow.
constexpr double kMaxNorm = 1e150;

namespace detail {

template <typename T>
inline double shift_row(const T* x, const double* c, std::int64_t p, double* out) {
    double norm = 0.0;
    for (std::int64_t j = 0; j < p; ++j) {
        const double v = static_cast<double>(x[j]) - c[j];
        out[j] = v;
        norm += v * v;
    }
    return norm;
}

// Rows [r0, r1) of the batch; returns the first non-finite (site, row) in that range.
inline BadEntry fill_rows(const std::vector<SiteView>& sites, double* out, std::int64_t d,
                          std::int64_t r0, std::int64_t r1) {
    const std::int64_t n_sites = static_cast<std::int64_t>(sites.size());
    std::int64_t total_cols = 0;
    for (const auto& s : sites) total_cols += s.cols;
    BadEntry bad;
    for (std::int64_t i = r0; i < r1; ++i) {
        double* w = out + i * d;
        std::int64_t off = 0;
        for (std::int64_t s = 0; s < n_sites; ++s) {
            const SiteView& v = sites[s];
            double norm;
            if (v.is_float32) {
                norm = shift_row(static_cast<const float*>(v.data) + i * v.cols, v.reference, v.cols, w + off);
            } else {
                norm = shift_row(static_cast<const double*>(v.data) + i * v.cols, v.reference, v.cols, w + off);
            }
            // NaN and Inf propagate into the squared norm; so does an overflow of the square. The fourth-order
            // statistics square the norm again, so norms beyond kMaxNorm would overflow G: flag them too.
            if (!(norm <= kMaxNorm) && bad.site < 0) {
                bad.site = s;
                bad.row = i;
            }
            w[total_cols + s] = norm;
            off += v.cols;
        }
        w[total_cols + n_sites] = 1.0;
    }
    return bad;
}

}  // namespace detail

// Fill W (rows x d, row-major) from the sites. Rows are split across n_threads std::threads when the batch
// is large enough to pay for them. Throws std::invalid_argument on inconsistent sizes.
inline BadEntry fill_augmented(const std::vector<SiteView>& sites, double* out, std::int64_t rows,
                               std::int64_t d, int n_threads) {
    std::int64_t total_cols = 0;
    for (const auto& s : sites) total_cols += s.cols;
    if (d != total_cols + static_cast<std::int64_t>(sites.size()) + 1) {
        throw std::invalid_argument("out has the wrong number of columns for these sites");
    }
    if (rows <= 0) return BadEntry{};
    // The pass is memory-bound and ~10 % of an update; a thread pays off only for large batches (measured: with
    // BLAS threads busy-waiting, extra threads on small batches slowed updates 3× under load).
    const std::int64_t work = rows * d;
    std::int64_t n_workers = std::max<std::int64_t>(1, std::min<std::int64_t>(n_threads, work / (1 << 21)));
    n_workers = std::min(n_workers, rows);
    if (n_workers <= 1) return detail::fill_rows(sites, out, d, 0, rows);

    std::vector<BadEntry> found(static_cast<std::size_t>(n_workers));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n_workers));
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(n_workers));
    const std::int64_t chunk = (rows + n_workers - 1) / n_workers;
    for (std::int64_t t = 0; t < n_workers; ++t) {
        const std::int64_t r0 = t * chunk;
        const std::int64_t r1 = std::min(rows, r0 + chunk);
        pool.emplace_back([&, t, r0, r1]() {
            try {
                found[static_cast<std::size_t>(t)] = detail::fill_rows(sites, out, d, r0, r1);
            } catch (...) {
                errors[static_cast<std::size_t>(t)] = std::current_exception();
            }
        });
    }
    for (auto& th : pool) th.join();
    for (auto& e : errors) {
        if (e) std::rethrow_exception(e);
    }
    // Chunks are in row order, so the first chunk with a bad entry holds the first bad row.
    for (const auto& b : found) {
        if (b.site >= 0) return b;
    }
    return BadEntry{};
}

}  // namespace repsim
