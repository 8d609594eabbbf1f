"""Build of the compiled core ``repsim._core`` (C++17, pybind11).

The extension is optional unless ``REPSIM_STRICT_BUILD=1``: a machine without a compiler still gets a working
package (Numba kernels), while CI sets the variable so that a broken build fails loudly.
"""
import os
from glob import glob

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

STRICT = os.environ.get("REPSIM_STRICT_BUILD", "0") not in ("", "0", "false", "False")

ext_modules = [
    Pybind11Extension(
        "repsim._core",
        sorted(glob("csrc/*.cpp")),
        include_dirs=["csrc"],
        cxx_std=17,
        # Portable optimisation only: never host-tuned flags (docs/contributing.md, anti-pattern 1).
        extra_compile_args=["-O3", "-pthread"],
        extra_link_args=["-pthread"],
        optional=not STRICT,
    )
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
