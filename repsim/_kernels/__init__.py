"""Kernels: the compiled C++ core when built, Numba otherwise."""
