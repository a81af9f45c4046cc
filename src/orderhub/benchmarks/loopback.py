"""What the HTTP benchmarks share: a real `orderhub serve` on loopback and a keep-alive load generator.

The server runs as its own processes (as in production, `--workers N`); the load comes from the
benchmark's process over loopback with keep-alive connections, one thread per client, every request
built beforehand so the generator's own work, on the same cores, is not counted against the server.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from orderhub.core.settings import Settings

START_TIMEOUT = 60.0
PROC = Path("/proc")
# A worker still importing the app keeps a core busy; one ready for requests sleeps in its event loop.
SETTLE_INTERVAL = 0.5
IDLE_TICKS = max(1, os.sysconf("SC_CLK_TCK") // 20) if hasattr(os, "sysconf") else 5  # 50 ms per interval


@dataclass(frozen=True)
class Request:
    """One request to send: its body and headers (the method is POST, the path the run's)."""

    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Load:
    latencies_ms: list[float]  # one per request, in completion order
    failures: int  # answers other than 200
    seconds: float  # from the first request sent to the last answer read


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(settings: Settings, *, workers: int, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`orderhub serve --workers N` on a free loopback port, on the settings' database; yields its base URL.

    `env` adds settings of the server's own (ORDERHUB_… variables). The server is stopped on leaving.
    """
    port = free_port()
    environment = {**os.environ, "ORDERHUB_DATABASE_URL": settings.database_url, "ORDERHUB_LOG_LEVEL": "WARNING",
                   "ORDERHUB_SECRET_KEY_FILE": str(settings.secret_key_file.resolve()), **(env or {})}
    if settings.secret_key:
        environment["ORDERHUB_SECRET_KEY"] = settings.secret_key
    server = subprocess.Popen(  # noqa: S603 - our own CLI
        [str(Path(sys.executable).with_name("orderhub")), "serve", "--port", str(port), "--workers", str(workers)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server)
        _wait_for_workers(server.pid, workers)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode} before it answered")
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def _wait_for_workers(server_pid: int, workers: int) -> None:
    """Wait until every worker process has loaded the app and sits idle.

    The first worker to answer /healthz is not the last to be ready: on a busy machine the others
    may still be importing for seconds, and the first part of the run would measure one worker.
    With one worker uvicorn serves from the process itself, whose first answer is enough. Reads
    /proc (Linux); elsewhere the first answer has to do.
    """
    if workers <= 1 or not PROC.exists():
        return
    deadline = time.monotonic() + START_TIMEOUT
    before: dict[int, int] = {}
    while time.monotonic() < deadline:
        now = {pid: _cpu_ticks(pid) for pid in _worker_pids(server_pid)}
        if len(now) >= workers and before.keys() == now.keys() and all(
                now[pid] - before[pid] <= IDLE_TICKS for pid in now):
            return
        before = now
        time.sleep(SETTLE_INTERVAL)
    raise SystemExit("the server's workers did not settle")


def _worker_pids(server_pid: int) -> list[int]:
    """The server's worker processes (multiprocessing spawns them; its resource tracker is left out)."""
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            spawned = parent == server_pid and b"spawn_main" in (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if spawned:
            pids.append(int(entry.name))
    return pids


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time the process has used, in clock ticks (-1 if it is gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])


def fire(base: str, path: str, requests: Sequence[Request], *, clients: int,
         answered: Callable[[], object] | None = None) -> Load:
    """POST every request to `path` over `clients` keep-alive connections (stdlib http.client: the lightest client).

    `answered` is called after each answer (a progress bar's advance).
    """
    url = urlsplit(base)
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    pending = iter(requests)

    def client() -> None:
        nonlocal failures
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        mine: list[float] = []
        failed = 0
        try:
            while True:
                with lock:
                    request = next(pending, None)
                if request is None:
                    break
                started = time.perf_counter()
                connection.request("POST", path, body=request.body, headers=dict(request.headers))
                response = connection.getresponse()
                response.read()
                mine.append((time.perf_counter() - started) * 1000)
                failed += response.status != 200
                if answered is not None:
                    answered()
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                failures += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(latencies, failures, time.perf_counter() - started)
