// Blocks of G += Wᵀ W in square tiles of bounded edge: diagonal tiles by DSYRK, off-diagonal tiles by DGEMM, written
// in place into a column-major block of the statistics (the joint d × d matrix is the block of all d columns). No
// single BLAS call sees more than `edge` columns, so the size of one call is bounded whatever d is (SciPy's bundled
// OpenBLAS 0.3.30 crashes in one threaded DSYRK at d ≈ 18,000). The entries are the same sums as one DSYRK.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "lapack.hpp"

namespace repsim {

// C (ni × nj, column-major, leading dimension ldc) += W[:, i0:i0+ni]ᵀ W[:, j0:j0+nj], W rows × d row-major, in tiles
// of at most `edge` columns. With `upper` (ni == nj, i0 == j0) only the tiles on and above the diagonal are computed,
// diagonal tiles by DSYRK, and only C's upper triangle is written.
inline void gram_tiles(const double* W, std::int64_t rows, std::int64_t d, std::int64_t i0, std::int64_t ni,
                       std::int64_t j0, std::int64_t nj, double* C, std::int64_t ldc, bool upper, std::int64_t edge) {
    const auto& r = lapack::routines();
    if (!r.blas3()) throw std::invalid_argument("gram_tiles: SciPy's dsyrk/dgemm were not found");
    if (edge < 1) throw std::invalid_argument("gram_tiles: edge must be positive");
    if (rows == 0 || ni == 0 || nj == 0) return;
    auto step_of = [edge](std::int64_t n) {
        const std::int64_t tiles = (n + edge - 1) / edge;
        return (n + tiles - 1) / tiles;  // equal tiles: no sliver at the end
    };
    const std::int64_t si = step_of(ni), sj = step_of(nj);
    int k = static_cast<int>(rows), ld = static_cast<int>(d), ldC = static_cast<int>(ldc);
    double one = 1.0;
    char up = 'U', no = 'N', tr = 'T';
    for (std::int64_t b0 = 0; b0 < nj; b0 += sj) {
        int nb = static_cast<int>(std::min(sj, nj - b0));
        const double* WB = W + j0 + b0;
        for (std::int64_t a0 = 0; a0 < (upper ? b0 + 1 : ni); a0 += si) {
            int na = static_cast<int>(std::min(si, ni - a0));
            double* Cab = C + a0 + b0 * ldc;
            if (upper && a0 == b0) {  // diagonal tile: its upper triangle
                r.dsyrk(&up, &no, &nb, &k, &one, const_cast<double*>(WB), &ld, &one, Cab, &ldC);
            } else {
                if (upper) na = static_cast<int>(std::min<std::int64_t>(na, b0 - a0));
                r.dgemm(&no, &tr, &na, &nb, &k, &one, const_cast<double*>(W + i0 + a0), &ld, const_cast<double*>(WB),
                        &ld, &one, Cab, &ldC);
            }
        }
    }
}

}  // namespace repsim
