"""A task computed side by side in a forked child: the report's independent stages.

The report's costliest independent pieces (the reference-based multiple imputation, half of the
figures) run in a child process forked from the one that already holds the trial and the
loaded libraries, so the child starts at once and both cores work. The result travels back
through a pipe; an exception raised in the child is raised again by :meth:`Background.result`.
Without ``fork`` (Windows), with one core, or inside a child of this kind (a daemonic process,
which may not start children of its own), the work is simply done in-process, with the same
result: nothing here draws random numbers that the parent also draws.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["Background", "side_by_side", "may_start_processes"]

_UNSET = object()


def may_start_processes() -> bool:
    """Whether this process may start worker processes: ``fork`` exists, there are two cores or
    more, and this is not itself a daemonic child (one of :class:`Background`'s, which Python
    forbids to have children).

    Examples
    --------
    >>> isinstance(may_start_processes(), bool)
    True
    """
    import multiprocessing as mp

    return (hasattr(os, "fork") and (os.cpu_count() or 1) >= 2
            and not mp.current_process().daemon)  # fmt: skip


class Background:
    """``fn(*args)`` computed while the caller goes on; :meth:`result` waits for it."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self._value: Any = _UNSET
        if not may_start_processes():
            self._value = fn(*args)
            return
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)

        def child() -> None:
            try:
                out = (True, fn(*args))
            except BaseException as exc:  # raised again in the parent
                out = (False, exc)
            send.send(out)

        self._proc = ctx.Process(target=child, daemon=True)
        self._proc.start()
        send.close()

    def cancel(self) -> None:
        """Stop the child now (its result is then never asked for)."""
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)

    def result(self) -> Any:
        """The value of ``fn(*args)`` (or its exception, raised here)."""
        if self._value is _UNSET:
            try:
                ok, value = self._recv.recv()
            except EOFError:
                self._proc.join()
                raise RuntimeError(
                    f"a report stage in a child process ended without a result "
                    f"(exit status {self._proc.exitcode})"
                ) from None
            self._proc.join()
            if not ok:
                raise value
            self._value = value
        return self._value


def side_by_side(fn: Callable[[Any], Any], items: list, processes: int = 2) -> list:
    """``[fn(x) for x in items]``, computed by this process and forked children side by side.

    Every process takes the next item from a shared counter until none is left, so the work
    balances itself whatever each item costs (figures, the analyses of a plan, chunks of
    samples); the results come back in item order and are the same as in one process (``fn``
    must not depend on which process runs it: each item carries its own seed). ``processes``
    counts this one (default 2; at most one per core). The first item is always this process's
    own (it may start processes of its own: put the longest, parallel item first). Without
    ``fork``, with one core, inside a daemonic child, or for a single item, everything runs here. An exception raised by ``fn`` in any process is raised
    here, and the other children are stopped.

    Examples
    --------
    >>> side_by_side(abs, [-3, 1, -4, 1, -5])
    [3, 1, 4, 1, 5]
    """
    items = list(items)
    processes = min(processes, os.cpu_count() or 1, len(items))
    if processes < 2 or not may_start_processes():
        return [fn(x) for x in items]
    import multiprocessing as mp

    counter = mp.get_context("fork").Value("i", 1)  # item 0 is this process's

    def share() -> dict:
        done = {}
        while True:
            with counter.get_lock():
                i = counter.value
                counter.value += 1
            if i >= len(items):
                return done
            done[i] = fn(items[i])

    children = [Background(share) for _ in range(processes - 1)]
    try:
        mine = {0: fn(items[0])}
        mine.update(share())
        for child in children:
            mine.update(child.result())
    except BaseException:
        with counter.get_lock():  # no child takes a further item
            counter.value = len(items)
        for child in children:
            child.cancel()
        raise
    return [mine[i] for i in range(len(items))]
