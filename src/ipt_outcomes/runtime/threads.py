"""One BLAS thread: the models work on many small matrices, where BLAS threads only compete, and
parallel work uses processes (one per core) instead."""

from __future__ import annotations

import contextlib
import os

__all__ = ["one_blas_thread", "single_threaded_children", "BLAS_THREADS"]

#: environment variables that set the number of BLAS threads of a process started from here
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread():
    """A context in which BLAS uses one thread (threadpoolctl, which scikit-learn brings; without
    it, nothing changes).

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.linalg.det(np.eye(3)))
    1.0
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


@contextlib.contextmanager
def single_threaded_children():
    """Processes started inside use one BLAS thread each: the matrices are small, and one thread
    per process on every core is faster than processes competing for threads."""
    old = {k: os.environ.get(k) for k in BLAS_THREADS}
    os.environ.update(dict.fromkeys(BLAS_THREADS, "1"))
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
