"""Running chunks of work: in this process, on local processes, or on a Dask cluster.

:func:`run_chunks` is the package's one way to run many independent pieces of work (simulated
trials for power, jackknife and bootstrap samples and imputations of the reference-based MI,
the multivariate-normal imputations). The work is cut into chunks by the caller, each chunk
carrying its own seed (a ``numpy.random.SeedSequence`` spawned per chunk or per sample), and
the results come back in task order; so the same seed gives the same numbers, byte for byte,
whether the chunks run here, on 2 or 16 local processes or on a cluster.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable

from ..exceptions import IptOutcomesError
from .threads import single_threaded_children

__all__ = ["run_chunks", "process_pool"]


def _bar(total: int, desc: str, progress: bool, initial: int = 0):
    """A tqdm bar on stderr counting chunks (in a log file, updated every 5 s), shown only once
    the work has taken a second: work that ends sooner (a small trial's jackknife) prints no
    bar between the command's own messages."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit="chunk", disable=not progress,
                leave=not tty, mininterval=0.1 if tty else 5.0, delay=1.0,
                file=sys.stderr)  # fmt: skip


def run_chunks(
    func: Callable,
    tasks: list,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    desc: str = "",
    executor=None,
    quick: float | None = None,
    fork: bool = False,
) -> list:
    """``[func(t) for t in tasks]``, in task order, run where asked.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled to worker processes); every task picklable.
    tasks : list
    workers : int, optional
        Local processes; 1 runs every chunk in this process. Default: one per core.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://10.0.0.5:8786``); takes precedence
        over ``workers``. The Dask workers need ``ipt-outcomes`` installed.
    progress : bool
        A progress bar (tqdm, on stderr) counting finished chunks.
    desc : str
        The bar's label.
    executor : Executor, optional
        A pool to reuse across calls (:func:`process_pool`).
    quick : float, optional
        With ``workers=None``: run the first chunk here, timed, and the rest here too when they
        would take less than ``quick`` seconds at that pace (starting processes costs more than
        they would save), else on one process per core.
    fork : bool
        Local processes forked from this one (:func:`~.background.side_by_side`: they start at
        once, with everything this process holds) instead of a spawned pool; for functions of
        numpy work only (a fork copies no running threads). Where ``fork`` does not exist, a
        spawned pool.

    Returns
    -------
    list
        ``func(t)`` for every task, in task order.

    Examples
    --------
    >>> run_chunks(abs, [-2, 3, -5], workers=1)
    [2, 3, 5]
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    if not tasks:
        return []
    if scheduler is not None:
        return _on_dask(func, tasks, scheduler, progress, desc)
    if executor is not None:
        with _bar(len(tasks), desc, progress) as bar:
            return _on_pool(executor, func, tasks, bar)
    from .background import may_start_processes

    cores = os.cpu_count() or 1
    n_workers = min(workers or cores, len(tasks))
    if not may_start_processes():  # e.g. a report stage in a daemonic child: no children
        n_workers = 1
    first = []
    if workers is None and quick is not None and n_workers > 1:
        t0 = time.perf_counter()
        first = [func(tasks[0])]
        rest = (time.perf_counter() - t0) * (len(tasks) - 1)
        if rest < quick:
            n_workers = 1
        tasks = tasks[1:]
        n_workers = min(n_workers, len(tasks)) or 1
    with _bar(len(tasks) + len(first), desc, progress, initial=len(first)) as bar:
        if n_workers <= 1:
            out = []
            for t in tasks:
                out.append(func(t))
                bar.update()
            return first + out
        if fork and hasattr(os, "fork"):
            from .background import side_by_side

            out = side_by_side(func, tasks, n_workers)
            bar.update(len(tasks))
            return first + out
        with process_pool(n_workers) as pool:
            return first + _on_pool(pool, func, tasks, bar)


def _on_pool(pool, func, tasks, bar) -> list:
    from concurrent.futures import as_completed

    out: list = [None] * len(tasks)
    with _interrupts_held():
        futs = {pool.submit(func, t): i for i, t in enumerate(tasks)}
    for fut in as_completed(futs):
        out[futs[fut]] = fut.result()
        bar.update()
    return out


def _on_dask(func, tasks, scheduler: str, progress: bool, desc: str) -> list:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - an optional dependency
        raise IptOutcomesError(
            "running on a Dask cluster needs the 'distributed' package "
            "(pip install 'ipt-outcomes[cluster]')"
        ) from exc
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise IptOutcomesError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    out: list = [None] * len(tasks)
    with client, _bar(len(tasks), desc, progress) as bar:
        futures = client.map(func, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            out[index[fut.key]] = fut.result()
            bar.update()
    return out


@contextlib.contextmanager
def process_pool(workers: int | None = None):
    """A pool of ``workers`` local processes (default one per core), started with spawn and one
    BLAS thread each; use as ``with process_pool() as pool: run_chunks(..., executor=pool)``.

    Workers ignore Ctrl-C: the main process handles it (and SIGTERM), and on any interruption or
    error the queued chunks are cancelled and the workers stopped at once, so that nothing is
    waited for and no worker prints a traceback.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with single_threaded_children():  # workers start at the first submit, inside this block
        pool = ProcessPoolExecutor(
            workers or os.cpu_count() or 1,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_ignores_interrupts,
        )
        try:
            yield pool
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)


def _worker_ignores_interrupts() -> None:
    """A worker ignores Ctrl-C (the main process handles it) and takes SIGTERM as it comes: it
    was started with both blocked (:func:`_interrupts_held`, a mask that survives exec), and a
    worker that kept SIGTERM blocked could not be stopped by :func:`_stop` - it would outlive an
    interrupted command, holding its output pipes open."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _interrupts_held():
    """Block SIGINT and SIGTERM in this thread while worker processes may be started (they start
    at submit): a child inherits the blocked mask, so a terminal's Ctrl-C, which reaches the whole
    process group, never hits a worker still importing. The parent gets the signal when the
    block ends and stops the workers itself."""
    import signal

    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _stop(pool) -> None:
    """Cancel what is queued and end the worker processes without waiting for their chunks."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(timeout=5)
