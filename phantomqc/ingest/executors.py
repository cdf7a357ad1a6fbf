"""Executors: where the analyses of a batch run.

One interface, :class:`Executor`, and two backends:

- :class:`LocalExecutor` runs in this process (one worker) or in a local process pool (``--workers N``);
- :class:`DaskExecutor` runs on a Dask distributed cluster (``--executor dask://host:8786``).

:func:`make_executor` turns the command line's ``--executor`` and ``--workers`` into one of them.
``phantomqc.pipeline.analyze`` takes any of them; its results are the same, in the same order, whichever runs it.

What travels to a worker is a :class:`phantomqc.pipeline.Task`: a test kind, file paths and small parameters,
never pixel arrays. Each worker reads its own files, so on a cluster every worker must see the inputs under the same
paths (shared storage). The result that comes back is the analysis result, with the arrays its report needs.
"""

from __future__ import annotations

import abc
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from phantomqc._shared.errors import InputError

__all__ = ["DEFAULT_DASK_PORT", "DaskExecutor", "Executor", "LocalExecutor", "make_executor"]

T = TypeVar("T")
R = TypeVar("R")

#: The port of a Dask scheduler when ``dask://host`` names none.
DEFAULT_DASK_PORT = 8786


class Executor(abc.ABC):
    """Runs one function over many items and gives the results back in the items' order.

    Use it as a context manager, or call :meth:`close` when done. An executor may be reused for several
    :meth:`map` calls (the pipeline runs its two phases on the same one).
    """

    @abc.abstractmethod
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for each item, yielded in the order of ``items`` (whatever order they finish in).

        ``fn`` must be a module-level function (it is pickled by reference for another process). An exception
        raised by ``fn``, or the loss of the process running it, is raised here when its result is reached.
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """One line saying where the work runs, for logs and progress messages."""

    def close(self) -> None:
        """Release the processes or the connection. Calling it twice is harmless."""

    @property
    def in_process(self) -> bool:
        """True when :meth:`map` runs ``fn`` in this very process (so a progress bar can name the running test)."""
        return False

    def __enter__(self) -> Executor:  # noqa: PYI034 (typing.Self needs Python 3.11; 3.10 is supported)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


class LocalExecutor(Executor):
    """This process (``workers == 1``) or a pool of ``workers`` local processes.

    Parameters
    ----------
    workers : int
        Number of processes, at least 1. With 1, :meth:`map` is the built-in ``map`` in this process.

    Notes
    -----
    The pool is created on the first :meth:`map` that needs it, with the ``spawn`` start method, not ``fork``:
    numba's OpenMP threading layer is not fork-safe once a parallel kernel has run in the parent, and a forked child
    would also inherit whatever state (open files, locks, threads) the parent holds at that moment.

    Examples
    --------
    >>> with LocalExecutor(1) as ex:
    ...     list(ex.map(abs, [-1, 2, -3]))
    [1, 2, 3]
    """

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"workers must be an integer >= 1; received {workers!r}. Use 1 to run in this process")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    @property
    def in_process(self) -> bool:
        return self.workers == 1

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self.workers == 1:
            return map(fn, items)
        if isinstance(items, (list, tuple)) and len(items) <= 1 and self._pool is None:
            return map(fn, items)  # starting processes for one item costs more than it saves
        if self._pool is None:
            # "spawn", not fork: numba's OpenMP threading layer is not fork-safe once a parallel kernel has run
            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool.map(fn, items)

    def describe(self) -> str:
        if self.workers == 1:
            return "local: this process"
        return f"local: a pool of {self.workers} processes (spawn)"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class DaskExecutor(Executor):
    """A Dask distributed cluster, reached through its scheduler.

    Parameters
    ----------
    address_or_client : str or distributed.Client
        The scheduler's address (``tcp://host:8786``), or a connected ``distributed.Client``. A client given here
        stays open after :meth:`close` (its owner closes it); one made from an address is closed.
    max_workers : int, optional
        At most this many tasks of this executor are in flight on the cluster at any time, so at most this many
        workers (worker threads) analyse for it at once, however large the cluster. Default: the cluster's thread
        count when :meth:`map` starts (at least 1).
    connect_timeout_s : float
        How long to wait for the scheduler when connecting from an address.

    Notes
    -----
    The bound is a sliding window: ``max_workers`` tasks are submitted (``client.submit(fn, item, pure=False)``;
    ``pure=False`` because two identical tasks must both run, e.g. a file rewritten between two batches); each time
    one finishes, the next item is submitted. This was chosen over Dask worker *resources* because it needs nothing
    from how the cluster was started (resources must be declared by every worker at start-up), it also bounds the
    load this batch puts on a scheduler shared with other users, and it holds for a cluster that grows while the
    batch runs. The results are yielded in the items' order: a result that finishes early waits here until those
    before it are yielded, and that wait does not hold back new submissions (one slow series does not idle the
    other workers).

    Each task runs once. If a worker dies while running one (Dask retries it on another worker up to its
    ``distributed.scheduler.allowed-failures`` setting), ``KilledWorker`` is raised by :meth:`map`.

    Examples
    --------
    >>> from distributed import LocalCluster                      # doctest: +SKIP
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, \\
    ...         DaskExecutor(cluster.scheduler_address) as ex:     # doctest: +SKIP
    ...     list(ex.map(abs, [-1, 2, -3]))
    [1, 2, 3]
    """

    def __init__(self, address_or_client: Any, max_workers: int | None = None, *,
                 connect_timeout_s: float = 10.0) -> None:
        if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int)
                                        or max_workers < 1):
            raise InputError(f"max_workers must be an integer >= 1 or None (the cluster's thread count); "
                             f"received {max_workers!r}")
        try:
            from distributed import Client
        except ImportError:
            raise InputError("the Dask executor needs the 'distributed' package, which is not installed; install "
                             "dask[distributed] or use the local executor (--workers N)") from None
        self.max_workers = max_workers
        if isinstance(address_or_client, Client):
            self._client = address_or_client
            self._owns_client = False
        elif isinstance(address_or_client, str):
            try:
                self._client = Client(address_or_client, timeout=connect_timeout_s, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise InputError(f"cannot reach the Dask scheduler at {address_or_client} within "
                                 f"{connect_timeout_s:g} s ({type(exc).__name__}: {exc}); start it with "
                                 f"`dask scheduler` or check the address (dask://host:port)") from None
            self._owns_client = True
        else:
            raise InputError(f"DaskExecutor needs a scheduler address (str) or a distributed.Client; received "
                             f"{type(address_or_client).__name__}")
        self._address = str(self._client.scheduler.address)

    @property
    def client(self):
        """The ``distributed.Client`` in use."""
        return self._client

    def cluster_threads(self) -> int:
        """Worker threads the cluster has now (the sum of every worker's ``nthreads``)."""
        return int(sum(self._client.nthreads().values()))

    def window(self) -> int:
        """The most tasks this executor keeps in flight: ``max_workers``, else the cluster's thread count."""
        return self.max_workers if self.max_workers is not None else max(1, self.cluster_threads())

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return self._map(fn, iter(items), self.window())

    def _map(self, fn: Callable[[T], R], items: Iterator[T], window: int) -> Iterator[R]:
        from distributed import as_completed

        ordered: deque = deque()  # submitted, not yet yielded, in the items' order
        finished = as_completed(loop=self._client.loop)
        running = 0  # submitted and not yet reported finished by `finished`
        exhausted = False

        def submit_more() -> None:
            nonlocal running, exhausted
            while not exhausted and running < window:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    return
                fut = self._client.submit(fn, item, pure=False)
                ordered.append(fut)
                finished.add(fut)
                running += 1

        try:
            submit_more()
            while running:  # when it reaches 0, every item has been submitted (window >= 1) and has finished
                next(finished)  # blocks until one of the running tasks is done (or has failed)
                running -= 1
                submit_more()
                while ordered and ordered[0].done():
                    yield ordered.popleft().result()  # raises the task's exception, if it had one
            while ordered:
                yield ordered.popleft().result()
        finally:
            for fut in ordered:  # the consumer stopped early, or a task failed: drop what is left
                fut.cancel()

    def describe(self) -> str:
        if self._client.status != "running":
            return f"dask: {self._address} ({self._client.status})"
        n_workers = len(self._client.nthreads())
        threads = self.cluster_threads()
        bound = self.max_workers if self.max_workers is not None else "the cluster's threads"
        return (f"dask: {self._address}, {n_workers} workers ({threads} threads), "
                f"at most {bound} tasks in flight")

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
        self._owns_client = False


def make_executor(spec: str | None, workers: int = 1) -> Executor:
    """The executor named on the command line.

    Parameters
    ----------
    spec : str or None
        ``None``, ``""`` or ``"local"``: a :class:`LocalExecutor` of ``workers`` processes.
        ``dask://host:port`` or ``tcp://host:port``: a :class:`DaskExecutor` connected to that scheduler
        (``dask://host`` means port 8786; ``dask://`` is an alias of Dask's own ``tcp://``).
    workers : int
        Local: the number of processes. Dask: when above 1, the most tasks in flight on the cluster; 1 (the
        command line's default) leaves the bound at the cluster's thread count.

    Returns
    -------
    Executor
        Close it when done (or use it in a ``with`` block).

    Examples
    --------
    >>> make_executor(None, 2).describe()
    'local: a pool of 2 processes (spawn)'
    """
    if spec is None or spec.strip() in ("", "local"):
        return LocalExecutor(workers)
    s = spec.strip()
    scheme, sep, rest = s.partition("://")
    if not sep or scheme.lower() not in ("dask", "tcp", "tls"):
        raise InputError(f"--executor {spec!r}: expected dask://host:port (or tcp://host:port) for a Dask "
                         f"cluster, or 'local'; use --workers N for a local process pool")
    host, colon, port = rest.rpartition(":") if ":" in rest.rsplit("]", 1)[-1] else (rest, "", "")
    if not host or (colon and not port.isdigit()):
        raise InputError(f"--executor {spec!r}: the scheduler address must be host:port, e.g. "
                         f"dask://scheduler:{DEFAULT_DASK_PORT}")
    address = f"{'tcp' if scheme.lower() == 'dask' else scheme.lower()}://{host}:{port or DEFAULT_DASK_PORT}"
    return DaskExecutor(address, max_workers=workers if workers > 1 else None)
