"""Group commit for pushes: under load, concurrent pushes share one database transaction.

Each request waits for the commit of the batch it joined, so a 200 still means "stored"; what a
batch saves is the per-transaction cost (round trips, the WAL flush) that otherwise caps pushes
at a few hundred per second per process. With no load a batch is one push and waits at most
`max_wait`.

A batch closes once no push has arrived for `max_wait`. Under load the pushes that queued while
the previous batch was written are taken at once; the wait only catches those still on their way,
and it is idle time of the committing thread at the end of every batch, so it is kept short.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from orderhub.core.logging import log

Request = TypeVar("Request")
Result = TypeVar("Result")


class GroupCommitter(Generic[Request, Result]):
    def __init__(self, handle: Callable[[Sequence[Request]], list[Result]], *, max_batch: int = 200,
                 max_wait: float = 0.001) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._queue: queue.Queue[tuple[Request, asyncio.Future[Result], asyncio.AbstractEventLoop]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="push-group-commit", daemon=True)
        self._thread.start()

    async def submit(self, request: Request) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put((request, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get(timeout=self._max_wait))
                except queue.Empty:
                    break
            try:
                results: list[Result | None] = list(self._handle([request for request, _, _ in batch]))
                error: BaseException | None = None
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure (a 500 the platform retries)
                log.exception("push_batch_failed", size=len(batch))
                results, error = [None] * len(batch), exc
            # One wake-up per event loop for the whole batch, not one per request.
            settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Result], Result | None]]] = {}
            for (_, future, loop), result in zip(batch, results, strict=True):
                settled.setdefault(loop, []).append((future, result))
            for loop, answers in settled.items():
                loop.call_soon_threadsafe(_settle, answers, error)


def _settle(answers: list[tuple[asyncio.Future[Result], Result | None]], error: BaseException | None) -> None:
    for future, result in answers:
        if future.done():
            continue  # the client went away
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
