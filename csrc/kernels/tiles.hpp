// G += Wᵀ W in square tiles of bounded edge: diagonal tiles by DSYRK, off-diagonal tiles by DGEMM, written in place
// into the upper triangle of the column-major d × d matrix G (leading dimension d). No single BLAS call sees more
// than `edge` columns, so the size of one call is bounded whatever d is (SciPy's bundled OpenBLAS 0.3.30 crashes in
// one threaded DSYRK at d ≈ 18,000). The entries are the same sums as one DSYRK over all d columns.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "lapack.hpp"

namespace repsim {

// W: rows × d, row-major (= Wᵀ column-major with leading dimension d). G: d × d column-major; only i ≤ j is touched.
inline void syrk_tiles(const double* W, std::int64_t rows, std::int64_t d, double* G, std::int64_t edge) {
    const auto& r = lapack::routines();
    if (!r.blas3()) throw std::invalid_argument("syrk_tiles: SciPy's dsyrk/dgemm were not found");
    if (edge < 1) throw std::invalid_argument("syrk_tiles: edge must be positive");
    if (rows == 0 || d == 0) return;
    const std::int64_t tiles = (d + edge - 1) / edge;
    const std::int64_t step = (d + tiles - 1) / tiles;  // equal tiles: no sliver at the end
    int k = static_cast<int>(rows), ld = static_cast<int>(d);
    double one = 1.0;
    char upper = 'U', no = 'N', tr = 'T';
    for (std::int64_t j0 = 0; j0 < d; j0 += step) {
        int nj = static_cast<int>(std::min(step, d - j0));
        // diagonal tile: G[j0:j1, j0:j1] (upper) += W[:, J]ᵀ W[:, J]
        r.dsyrk(&upper, &no, &nj, &k, &one, const_cast<double*>(W + j0), &ld, &one, G + j0 + j0 * d, &ld);
        for (std::int64_t i0 = 0; i0 < j0; i0 += step) {
            int ni = static_cast<int>(std::min(step, j0 - i0));
            // tile above the diagonal: G[I, J] += W[:, I]ᵀ W[:, J]
            r.dgemm(&no, &tr, &ni, &nj, &k, &one, const_cast<double*>(W + i0), &ld, const_cast<double*>(W + j0), &ld,
                    &one, G + i0 + j0 * d, &ld);
        }
    }
}

}  // namespace repsim
