"""The compiled engine's own BLAS: a private OpenBLAS instance at one thread, used by lstmlab's kernels alone.

A pass makes thousands of small products (per step h_{t-1} Wh and da_t Wh^T, e.g. (32, 64) @ (64, 256)); with
two BLAS threads they run slower than with one (the threads hand each product back and forth), and slower
still with other libraries' threads (PyTorch's) on the same cores. OpenBLAS has no per-call or per-thread
thread count in its pthreads builds (``openblas_set_num_threads_local`` sets the process's count there), and
limiting numpy's or SciPy's OpenBLAS would change what every other library in the process sees. So the
kernels call an OpenBLAS of their own: the library of the ``scipy-openblas32`` wheel, loaded here by path
(``RTLD_LOCAL``, so it shares neither symbols nor thread pool with numpy's or SciPy's copies) and set to one
thread. Nothing else in the process calls it.

Its gemm entry points are registered with LLVM under :data:`SYMBOLS` (``llvmlite.binding.add_symbol``), so
the kernels call them by name and numba's disk cache (``cache=True``) keeps working: the cached code is
linked against the names when loaded, in each process after this module has run.

:func:`ensure_one_thread` puts the count back to one should anything have changed it (threadpoolctl lists
this library like any other, and ``threadpool_limits`` sets every one it lists).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import scipy_openblas32
from llvmlite import binding

SYMBOLS = {"float64": "lstmlab_dgemm", "float32": "lstmlab_sgemm"}
_PREFIX = "scipy_"  # the wheel's symbol prefix

PATH = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True))
_lib = ctypes.CDLL(PATH, mode=os.RTLD_LOCAL | os.RTLD_NOW)
_get_threads = _lib[_PREFIX + "openblas_get_num_threads"]
_set_threads = _lib[_PREFIX + "openblas_set_num_threads"]
_get_threads.restype, _get_threads.argtypes = ctypes.c_int, []
_set_threads.restype, _set_threads.argtypes = None, [ctypes.c_int]
_set_threads(1)
_config = _lib[_PREFIX + "openblas_get_config"]
_config.restype, _config.argtypes = ctypes.c_char_p, []

VERSION = f"OpenBLAS {scipy_openblas32.__version__}"

for _dtype, _symbol in SYMBOLS.items():
    _fn = _lib[_PREFIX + ("dgemm_" if _dtype == "float64" else "sgemm_")]
    binding.add_symbol(_symbol, ctypes.cast(_fn, ctypes.c_void_p).value)


def threads() -> int:
    """The private OpenBLAS's thread count (one, unless something set every BLAS library's count)."""
    return _get_threads()


def ensure_one_thread() -> None:
    """Set the private OpenBLAS to one thread if anything changed it."""
    if _get_threads() != 1:
        _set_threads(1)


def config() -> str:
    """OpenBLAS's build description (version, kernel architecture, threading)."""
    return _config().decode()



def _entry(name: str, args: list):
    fn = _lib[_PREFIX + name]
    fn.restype, fn.argtypes = None, args
    return fn


_int, _ptr, _chr = ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.c_char_p
_ROUTINES = {}  # dtype -> (gemm, gemv, dot, scalar type)
for _dtype, _p, _ctype in (("float64", "d", ctypes.c_double), ("float32", "s", ctypes.c_float)):
    _dot = _lib[_PREFIX + _p + "dot_"]
    _dot.restype, _dot.argtypes = _ctype, [_int, _ptr, _int, _ptr, _int]
    _ROUTINES[np.dtype(_dtype)] = (
        _entry(_p + "gemm_", [_chr, _chr, _int, _int, _int, _ptr, _ptr, _int, _ptr, _int, _ptr, _ptr, _int]),
        _entry(_p + "gemv_", [_chr, _int, _int, _ptr, _ptr, _int, _ptr, _int, _ptr, _ptr, _int]),
        _dot, _ctype)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for 2-D float64 or float32 arrays of one dtype, (m, k) @ (k, n) -> (m, n) C-contiguous, by the
    private OpenBLAS with the routine numpy's matmul picks for the shape (so the same bits as numpy's at one
    thread): dot for m = n = 1, gemv for m = 1 or n = 1, a plain product for k = 1, else gemm (beta = 0).
    Anything else goes to numpy's ``@``: operands neither C- nor F-contiguous (numpy may not call BLAS for
    them), other dtypes or dimensions, sizes above 32-bit integers."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in _ROUTINES or \
            a.shape[1] != b.shape[0] or max(a.shape + b.shape) > 2**31 - 1 or \
            not all(x.flags.c_contiguous or x.flags.f_contiguous for x in (a, b)):
        return a @ b
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0 or k <= 1:
        return a @ b  # no sums to order: numpy's own loop, free of BLAS threads
    gemm, gemv, dot, ctype = _ROUTINES[a.dtype]
    out = np.empty((m, n), dtype=a.dtype)
    one, zero, inc = ctype(1.0), ctype(0.0), ctypes.c_int(1)
    if m == 1 and n == 1:
        out[0, 0] = dot(ctypes.c_int(k), a.ctypes.data, ctypes.c_int(a.strides[1] // a.itemsize), b.ctypes.data,
                        ctypes.c_int(b.strides[0] // b.itemsize))
        return out
    if m == 1 or n == 1:  # y = M v with M (rows, k): a, or b^T for m = 1
        mat, vec = (a, b) if n == 1 else (b.T, a.T)
        rows = mat.shape[0]
        step = ctypes.c_int(vec.strides[0] // vec.itemsize)
        if mat.flags.c_contiguous:  # column-major (k, rows): y = mat^T v
            gemv(b"T", ctypes.c_int(k), ctypes.c_int(rows), ctypes.addressof(one), mat.ctypes.data,
                 ctypes.c_int(k), vec.ctypes.data, step, ctypes.addressof(zero), out.ctypes.data, inc)
        else:
            gemv(b"N", ctypes.c_int(rows), ctypes.c_int(k), ctypes.addressof(one), mat.ctypes.data,
                 ctypes.c_int(rows), vec.ctypes.data, step, ctypes.addressof(zero), out.ctypes.data, inc)
        return out

    def operand(x):  # BLAS is column-major: a C-contiguous (r, s) array is its (s, r) transpose
        c_order = x.flags.c_contiguous
        return b"N" if c_order else b"T", ctypes.c_int(x.shape[1] if c_order else x.shape[0])

    (ta, lda), (tb, ldb) = operand(a), operand(b)
    # out^T = b^T a^T in column-major terms
    gemm(tb, ta, ctypes.c_int(n), ctypes.c_int(m), ctypes.c_int(k), ctypes.addressof(one), b.ctypes.data, ldb,
         a.ctypes.data, lda, ctypes.addressof(zero), out.ctypes.data, ctypes.c_int(n))
    return out


_syev = _entry("dsyev_", [_chr, _chr, _int, _ptr, _int, _ptr, _ptr, _int, _int])


def eigvalsh(a: np.ndarray) -> np.ndarray:
    """The eigenvalues of a symmetric (n, n) float64 matrix in ascending order, by the private OpenBLAS's LAPACK
    (dsyev, eigenvalues only) at one thread: numpy's eigvalsh without numpy's BLAS threads. LinAlgError if LAPACK
    reports no convergence."""
    a = np.array(a, dtype=np.float64, order="F", copy=True)  # dsyev overwrites it
    n = a.shape[0]
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"a: shape {a.shape}, expected a square matrix")
    w = np.empty(n, dtype=np.float64)
    if n == 0:
        return w
    info, size, query = ctypes.c_int(0), ctypes.c_int(n), np.empty(1, dtype=np.float64)
    _syev(b"N", b"L", ctypes.byref(size), a.ctypes.data, ctypes.byref(size), w.ctypes.data, query.ctypes.data,
          ctypes.byref(ctypes.c_int(-1)), ctypes.byref(info))
    work = np.empty(max(int(query[0]), 3 * n - 1, 1), dtype=np.float64)
    _syev(b"N", b"L", ctypes.byref(size), a.ctypes.data, ctypes.byref(size), w.ctypes.data, work.ctypes.data,
          ctypes.byref(ctypes.c_int(work.size)), ctypes.byref(info))
    if info.value != 0:
        raise np.linalg.LinAlgError(f"dsyev: info {info.value}")
    return w
