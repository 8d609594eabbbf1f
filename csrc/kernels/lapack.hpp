// BLAS/LAPACK for the kernels, borrowed from SciPy's bundled library (scipy.linalg.cython_blas / cython_lapack
// export their Fortran routines as PyCapsules). The bindings fill these pointers once, with the GIL held, before a
// kernel runs; kernels call them with the GIL released. A null pointer means "not available": callers fall back to
// their scalar code. Column-major Fortran interfaces, 32-bit integers (SciPy's LP64 build).
#pragma once

namespace repsim {
namespace lapack {

using dtrsm_t = void(char*, char*, char*, char*, int*, int*, double*, double*, int*, double*, int*);
using dpotrf_t = void(char*, int*, double*, int*, int*);
using dsyrk_t = void(char*, char*, int*, int*, double*, double*, int*, double*, double*, int*);
using dgemm_t = void(char*, char*, int*, int*, int*, double*, double*, int*, double*, int*, double*, double*, int*);

struct Routines {
    dtrsm_t* dtrsm = nullptr;
    dpotrf_t* dpotrf = nullptr;
    dsyrk_t* dsyrk = nullptr;
    dgemm_t* dgemm = nullptr;
    bool enabled = true;  // tests switch LAPACK off to exercise the scalar fallback
    bool ok() const { return enabled && dtrsm != nullptr && dpotrf != nullptr; }
    bool blas3() const { return dsyrk != nullptr && dgemm != nullptr; }
};

inline Routines& routines() {
    static Routines r;
    return r;
}

}  // namespace lapack
}  // namespace repsim
