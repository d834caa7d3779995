"""The package's one parallel runner.

* :func:`run_chunks` - independent chunks of work (each with its own seed) in this process, on
  local processes (:func:`process_pool`: spawn, one BLAS thread each, Ctrl-C stops them at once)
  or on a Dask cluster when a scheduler is given; results in task order, so the same seed gives
  the same bytes whatever the number of workers. Power simulations, the reference-based MI's
  jackknife, bootstrap and posterior chains, and the multivariate-normal imputations run on it.
* :class:`Background` - one task computed in a forked child while the caller goes on;
  :func:`side_by_side` - a list of tasks shared out between this process and a forked child as
  each becomes free (the report's figures and the plan's analyses, on both cores).
* :func:`one_blas_thread` - BLAS limited to one thread around work on many small matrices.
"""

from .background import Background, side_by_side
from .chunks import process_pool, run_chunks
from .threads import one_blas_thread, single_threaded_children

__all__ = ["Background", "one_blas_thread", "process_pool", "run_chunks", "side_by_side",
           "single_threaded_children"]  # fmt: skip
