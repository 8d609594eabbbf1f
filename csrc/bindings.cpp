// The only pybind11 file: a narrow, typed boundary. Shapes and dtypes are checked in Python
// (repsim/_validation.py); the checks here only guard the kernels against misuse.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/augment.hpp"
#include "kernels/lapack.hpp"
#include "kernels/maxmatch.hpp"
#include "kernels/tiles.hpp"

namespace py = pybind11;

namespace {

using OutArray = py::array_t<double, py::array::c_style>;

py::tuple fill_augmented(OutArray out, const py::list& sites, const py::list& references, int n_threads) {
    if (out.ndim() != 2) throw std::invalid_argument("out must be 2-D");
    if (sites.size() != references.size()) throw std::invalid_argument("sites and references differ in length");
    if (!out.writeable()) throw std::invalid_argument("out must be writeable");
    const std::int64_t rows = out.shape(0);
    const std::int64_t d = out.shape(1);

    // Keep the arrays alive while the GIL is released.
    std::vector<py::array> keep;
    std::vector<repsim::SiteView> views;
    keep.reserve(sites.size());
    views.reserve(sites.size());
    for (std::size_t s = 0; s < sites.size(); ++s) {
        // array_t's isinstance compares dtypes by equivalence (native byte order) and checks C-contiguity
        const bool f32 = py::isinstance<py::array_t<float, py::array::c_style>>(sites[s]);
        const bool f64 = py::isinstance<py::array_t<double, py::array::c_style>>(sites[s]);
        if (!f32 && !f64)
            throw py::type_error("site " + std::to_string(s) + " must be a C-contiguous float32 or float64 array");
        py::array a = py::reinterpret_borrow<py::array>(sites[s]);
        if (a.ndim() != 2 || a.shape(0) != rows) {
            throw std::invalid_argument("site " + std::to_string(s) + " must be 2-D with as many rows as out");
        }
        if (!py::isinstance<py::array_t<double, py::array::c_style>>(references[s]))
            throw py::type_error("reference " + std::to_string(s) + " must be a C-contiguous float64 array");
        auto ref = py::reinterpret_borrow<py::array>(references[s]);
        if (ref.ndim() != 1 || ref.shape(0) != a.shape(1)) {
            throw std::invalid_argument("reference " + std::to_string(s) + " must be a vector of the site's width");
        }
        repsim::SiteView v;
        v.data = a.data();
        v.is_float32 = f32;
        v.cols = a.shape(1);
        v.reference = static_cast<const double*>(ref.data());
        views.push_back(v);
        keep.push_back(a);
        keep.push_back(ref);
    }
    double* dst = out.mutable_data();
    repsim::BadEntry bad;
    {
        py::gil_scoped_release release;
        bad = repsim::fill_augmented(views, dst, rows, d, n_threads);
    }
    return py::make_tuple(bad.site, bad.row);
}

// Borrow dtrsm/dpotrf from SciPy's bundled BLAS/LAPACK (exported as PyCapsules); called with the GIL held. If SciPy
// cannot provide them the kernels keep their scalar fallback.
void load_lapack() {
    auto& r = repsim::lapack::routines();
    if (r.dtrsm != nullptr && r.dpotrf != nullptr && r.blas3()) return;
    try {
        auto get = [](const char* module, const char* name) -> void* {
            py::dict capi = py::module_::import(module).attr("__pyx_capi__");
            py::object cap = capi[name];
            void* ptr = PyCapsule_GetPointer(cap.ptr(), PyCapsule_GetName(cap.ptr()));
            if (ptr == nullptr) throw py::error_already_set();
            return ptr;
        };
        auto* trsm = reinterpret_cast<repsim::lapack::dtrsm_t*>(get("scipy.linalg.cython_blas", "dtrsm"));
        auto* potrf = reinterpret_cast<repsim::lapack::dpotrf_t*>(get("scipy.linalg.cython_lapack", "dpotrf"));
        auto* syrk = reinterpret_cast<repsim::lapack::dsyrk_t*>(get("scipy.linalg.cython_blas", "dsyrk"));
        auto* gemm = reinterpret_cast<repsim::lapack::dgemm_t*>(get("scipy.linalg.cython_blas", "dgemm"));
        r.dtrsm = trsm;
        r.dpotrf = potrf;
        r.dsyrk = syrk;
        r.dgemm = gemm;
    } catch (py::error_already_set& e) {
        e.restore();
        PyErr_Clear();
    }
}

using CArray = py::array_t<double, py::array::c_style>;
using FArray = py::array_t<double, py::array::f_style>;

// C (ni × nj, Fortran-ordered) += W[:, i0:i0+ni]ᵀ W[:, j0:j0+nj] (W rows × d, row-major); `upper`: the square
// diagonal block's upper triangle only (i0 == j0, ni == nj). Tiles of at most `edge` columns.
void gram_block(const CArray& W, std::int64_t i0, std::int64_t j0, FArray C, bool upper, std::int64_t edge) {
    if (W.ndim() != 2 || C.ndim() != 2) throw std::invalid_argument("W and C must be 2-D");
    const std::int64_t rows = W.shape(0), d = W.shape(1), ni = C.shape(0), nj = C.shape(1);
    if (i0 < 0 || j0 < 0 || i0 + ni > d || j0 + nj > d) throw std::invalid_argument("column ranges outside W");
    if (upper && (i0 != j0 || ni != nj)) throw std::invalid_argument("upper needs the same column range twice");
    if (!C.writeable()) throw std::invalid_argument("C must be writeable");
    if (d > 2147483647 || rows > 2147483647) throw std::invalid_argument("W is too large for 32-bit BLAS");
    load_lapack();
    const double* w = W.data();
    double* c = C.mutable_data();
    py::gil_scoped_release release;
    repsim::gram_tiles(w, rows, d, i0, ni, j0, nj, c, std::max<std::int64_t>(ni, 1), upper, edge);
}

using Mask = py::array_t<bool, py::array::c_style>;

// Checked view of the match problem: A (p×p), B (q×q), C (p×q), mu (p), nu (q), all C-contiguous float64.
repsim::match::Problem match_problem(const CArray& A, const CArray& B, const CArray& C, const CArray& mu,
                                     const CArray& nu, double n, bool center) {
    if (A.ndim() != 2 || B.ndim() != 2 || C.ndim() != 2 || mu.ndim() != 1 || nu.ndim() != 1)
        throw std::invalid_argument("A, B, C must be 2-D and mu, nu 1-D");
    const std::int64_t p = A.shape(0), q = B.shape(0);
    if (A.shape(1) != p || B.shape(1) != q || C.shape(0) != p || C.shape(1) != q || mu.shape(0) != p ||
        nu.shape(0) != q)
        throw std::invalid_argument("inconsistent shapes of A, B, C, mu, nu");
    if (!(n > 0)) throw std::invalid_argument("n must be positive");
    repsim::match::Problem pr;
    pr.p = p;
    pr.q = q;
    pr.n = n;
    pr.center = center;
    pr.A = A.data();
    pr.B = B.data();
    pr.C = C.data();
    pr.mu = mu.data();
    pr.nu = nu.data();
    return pr;
}

std::vector<char> mask_vector(const Mask& m, std::int64_t len, const char* name) {
    if (m.ndim() != 1 || m.shape(0) != len) throw std::invalid_argument(std::string(name) + " has the wrong length");
    std::vector<char> out(static_cast<std::size_t>(len));
    for (std::int64_t i = 0; i < len; ++i) out[static_cast<std::size_t>(i)] = m.data()[i] ? 1 : 0;
    return out;
}

Mask to_mask(const std::vector<char>& v) {
    Mask out(static_cast<py::ssize_t>(v.size()));
    bool* d = out.mutable_data();
    for (std::size_t i = 0; i < v.size(); ++i) d[i] = v[i] != 0;
    return out;
}

py::list max_match_curve(CArray A, CArray B, CArray C, CArray mu, CArray nu, double n, bool center, Mask start_x,
                         Mask start_y, CArray eps_desc) {
    auto pr = match_problem(A, B, C, mu, nu, n, center);
    auto sx = mask_vector(start_x, pr.p, "start_x");
    auto sy = mask_vector(start_y, pr.q, "start_y");
    if (eps_desc.ndim() != 1) throw std::invalid_argument("eps must be 1-D");
    const std::int64_t ne = eps_desc.shape(0);
    std::vector<double> eps(eps_desc.data(), eps_desc.data() + ne);
    for (std::int64_t k = 1; k < ne; ++k)
        if (eps[k] > eps[k - 1]) throw std::invalid_argument("eps must be sorted in descending order");
    std::vector<std::pair<std::vector<char>, std::vector<char>>> results;
    load_lapack();
    {
        py::gil_scoped_release release;
        repsim::match::MatchState st(pr, sx, sy);
        // Maximum matches are nested (a smaller eps gives a subset), so each eps warm-starts from the last.
        for (double e : eps) {
            st.eliminate(e);
            results.emplace_back(st.x(), st.y());
        }
    }
    py::list out;
    for (auto& r : results) out.append(py::make_tuple(to_mask(r.first), to_mask(r.second)));
    return out;
}

py::list minimum_matches(CArray A, CArray B, CArray C, CArray mu, CArray nu, double n, bool center, Mask max_x,
                         Mask max_y, double eps, py::array_t<std::int64_t, py::array::c_style> vs, int n_threads) {
    auto pr = match_problem(A, B, C, mu, nu, n, center);
    auto sx = mask_vector(max_x, pr.p, "max_x");
    auto sy = mask_vector(max_y, pr.q, "max_y");
    if (vs.ndim() != 1) throw std::invalid_argument("vs must be 1-D");
    const std::int64_t nv = vs.shape(0);
    std::vector<std::int64_t> v(vs.data(), vs.data() + nv);
    for (auto x : v)
        if (x < 0 || x >= pr.p + pr.q) throw std::invalid_argument("neuron index out of range in vs");
    std::vector<std::pair<std::vector<char>, std::vector<char>>> results;
    load_lapack();
    {
        py::gil_scoped_release release;
        results = repsim::match::minimum_matches(pr, sx, sy, eps, v, n_threads);
    }
    py::list out;
    for (auto& r : results) out.append(py::make_tuple(to_mask(r.first), to_mask(r.second)));
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "repsim compiled kernels (C++17)";
    // The limits the kernels apply, exported so that Python can check its own copies (repsim/_limits.py) against
    // them (tests/test_core_boundary.py). Read-only by convention: changing them here changes nothing in C++.
    m.attr("MAX_NORM") = repsim::kMaxNorm;         // augment.hpp: largest accepted squared row norm |x - c|^2
    m.attr("DEP_TOL") = repsim::match::kIndepTol;  // maxmatch.hpp: squared relative independence tolerance
    m.attr("ONE_TOL") = repsim::match::kOneTol;    // maxmatch.hpp: squared relative "1 in the raw span" tolerance
    m.def("gram_block", &gram_block, py::arg("W").noconvert(), py::arg("i0"), py::arg("j0"), py::arg("C").noconvert(),
          py::arg("upper"), py::arg("edge"),
          "C += W[:, i0:i0+C.shape[0]]^T W[:, j0:j0+C.shape[1]] into the Fortran-ordered C, in tiles of at most edge "
          "columns (upper: only the upper triangle of a diagonal block; SciPy's BLAS, GIL released).");
    m.def("fill_augmented", &fill_augmented, py::arg("out").noconvert(), py::arg("sites"), py::arg("references"),
          py::arg("n_threads") = 1,
          "Fused pass of docs/math.md §1: write the shifted fp64 rows, per-site squared row norms and the ones column "
          "of one batch into out (rows x d, C-contiguous float64). Releases the GIL. Returns (site, row) of the "
          "first non-finite shifted row, or (-1, -1).");
    m.def(
        "lapack_loaded",
        []() {
            load_lapack();
            const auto& r = repsim::lapack::routines();
            return r.dtrsm != nullptr && r.dpotrf != nullptr;
        },
        "Whether the match kernels found SciPy's dpotrf/dtrsm (else they run their scalar code).");
    m.def(
        "_match_lapack",
        [](bool enable) {
            auto& r = repsim::lapack::routines();
            const bool previous = r.enabled;
            r.enabled = enable;
            return previous;
        },
        py::arg("enable"),
        "Testing switch: let the match kernels use SciPy's LAPACK (True, the default) or only their scalar code. "
        "Returns the previous setting. Not thread-safe; not for use while a kernel runs.");
    m.def("max_match_curve", &max_match_curve, py::arg("A").noconvert(), py::arg("B").noconvert(),
          py::arg("C").noconvert(), py::arg("mu").noconvert(), py::arg("nu").noconvert(), py::arg("n"),
          py::arg("center"), py::arg("start_x").noconvert(), py::arg("start_y").noconvert(),
          py::arg("eps_desc").noconvert(),
          "Maximum matches (Wang et al. 2018, Algorithm 1) for each eps (descending), warm-started from one "
          "another, from centred Gram blocks. Returns a list of (x_mask, y_mask). Releases the GIL.");
    m.def("minimum_matches", &minimum_matches, py::arg("A").noconvert(), py::arg("B").noconvert(),
          py::arg("C").noconvert(), py::arg("mu").noconvert(), py::arg("nu").noconvert(), py::arg("n"),
          py::arg("center"), py::arg("max_x").noconvert(), py::arg("max_y").noconvert(), py::arg("eps"),
          py::arg("vs").noconvert(), py::arg("n_threads") = 1,
          "v-minimum matches (Algorithm 2) for each neuron v in vs (x: v < p, y: p + j), from the maximum match "
          "(max_x, max_y) that max_match_curve returned for eps. "
          "Returns a list of (x_mask, y_mask). Releases the GIL; neurons are split across n_threads threads.");
}
