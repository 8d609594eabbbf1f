// The only pybind11 file: a narrow, typed boundary. Shapes and dtypes are checked in Python
// (repsim/_validation.py); the checks here only guard the kernels against misuse.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/augment.hpp"

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
        py::array a = py::reinterpret_borrow<py::array>(sites[s]);
        if (!py::isinstance<py::array>(sites[s])) throw py::type_error("site " + std::to_string(s) + " is not an array");
        const bool f32 = a.dtype().is(py::dtype::of<float>());
        const bool f64 = a.dtype().is(py::dtype::of<double>());
        if (!f32 && !f64) throw py::type_error("site " + std::to_string(s) + " must be float32 or float64");
        if (a.ndim() != 2 || a.shape(0) != rows) {
            throw std::invalid_argument("site " + std::to_string(s) + " must be 2-D with as many rows as out");
        }
        if (!(a.flags() & py::array::c_style)) {
            throw std::invalid_argument("site " + std::to_string(s) + " must be C-contiguous");
        }
        auto ref = py::reinterpret_borrow<py::array>(references[s]);
        if (!py::isinstance<py::array_t<double, py::array::c_style>>(references[s]) || ref.ndim() != 1 ||
            ref.shape(0) != a.shape(1) || !ref.dtype().is(py::dtype::of<double>()) ||
            !(ref.flags() & py::array::c_style)) {
            throw std::invalid_argument("reference " + std::to_string(s) + " must be a contiguous float64 vector");
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

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "repsim compiled kernels (C++17)";
    m.def("fill_augmented", &fill_augmented, py::arg("out").noconvert(), py::arg("sites"), py::arg("references"),
          py::arg("n_threads") = 1,
          "Fused pass of MATH.md §1: write the shifted fp64 rows, per-site squared row norms and the ones column "
          "of one batch into out (rows x d, C-contiguous float64). Releases the GIL. Returns (site, row) of the "
          "first non-finite shifted row, or (-1, -1).");
}
