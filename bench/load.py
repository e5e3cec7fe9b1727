"""Police intake under load: the real HTTP path under gunicorn, on loopback.

    python bench/load.py [--requests 2000] [--seconds 60] [--clients 2,20] [--workers 2]

Starts gunicorn (config.wsgi, sync workers, 127.0.0.1 on a free port) against its own database,
`<BENCH_DATABASE_URL's name>_load` (10,000 episodes, generated the first time: every request
commits, so the measured data set is never touched), then, for each number of concurrent
clients, POSTs `update` notifications to /api/notifications/ with a police system's intake
token, each a new (reference, sequence) spread over the open episodes of its force, over
keep-alive connections. Each scenario stops after --requests answers or --seconds, whichever
comes first; gunicorn is stopped at the end (also on failure or Ctrl-C). Prints one JSON line
per scenario: notifications per second sustained, p50 / p99 / max latency, and errors.

The clients run on the same 2 cores as gunicorn and PostgreSQL, so the figures are a floor
for what a dedicated application server sustains. Not a test: timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/missing_bench"
LOAD_EPISODES = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(url: str) -> tuple[str, str, list[str]]:
    """Migrate and fill the load database; a fresh token; the force and its open references."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["CELERY_BROKER_URL"] = "memory://"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from bench import run as bench_run

    bench_run._create_database_if_missing(url)

    from bench import generate as gen
    from missing.cases import services
    from missing.models import OPEN_STATES, ApiToken, MissingEpisode, Role, User

    call_command("migrate", verbosity=0)
    bench_run.ensure_data(
        episodes=LOAD_EPISODES,
        open_per_state=bench_run.open_per_state_for(LOAD_EPISODES),
        log=lambda m: print(m, file=sys.stderr, flush=True),
        streams=2,
    )
    # A bench police client whose force has children still missing (as bench/run.py's intake
    # case: the reference data may hold forces the generator gives no episodes).
    clients = User.objects.filter(role=Role.POLICE_SYSTEM, username__startswith="bench-police-")
    police = (
        clients.filter(
            police_force__in=MissingEpisode.objects.filter(state__in=OPEN_STATES).values(
                "police_force"
            )
        )
        .select_related("police_force")
        .order_by("pk")
        .first()
    )
    if police is None:
        raise SystemExit("bench/load.py: no bench police client has an open episode")
    token = services.api_token_create(user=police, scope=ApiToken.Scope.INTAKE, now=gen.BENCH_NOW)
    refs = list(
        MissingEpisode.objects.filter(state__in=OPEN_STATES, police_force=police.police_force)
        .order_by("pk")
        .values_list("police_reference", flat=True)
    )
    from django.db import connection

    connection.close()
    return token, police.police_force.code, refs


def _scenario(
    *, port: int, token: str, force: str, refs: list[str], clients: int, requests: int,
    seconds: float, first_sequence: int,
) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            body = json.dumps(
                {
                    "police_force": force,
                    "police_reference": refs[n % len(refs)],
                    "kind": "update",
                    "sequence": first_sequence + n,
                    "circumstances": "Seen near the railway station at 21:40.",
                }
            )
            start = time.perf_counter()
            try:
                conn.request("POST", "/api/notifications/", body, headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                if status == "201":
                    latencies.append(elapsed)
                else:
                    errors[status] = errors.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None

    return {
        "name": f"intake_http_{clients}_clients",
        "clients": clients,
        "ok": len(latencies),
        "errors": errors,
        "seconds": round(wall, 1),
        "per_second": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 1) if ordered else None,
        "mean_ms": round(statistics.fmean(ordered), 1) if ordered else None,
    }


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not listen in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per scenario, at most")
    parser.add_argument("--seconds", type=float, default=60, help="per scenario, at most")
    parser.add_argument("--clients", default="2,20", help="comma-separated concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--warmup", type=int, default=50, help="requests before measuring")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    base = args.database_url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    url = base if base.endswith("_load") else f"{base}_load"
    if "bench" not in url.rpartition("/")[2]:
        parser.error("refusing a database whose name does not contain 'bench'")
    token, force, refs = _prepare(url)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_BROKER_URL": "memory://",
    }
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers), "--worker-class", "sync", "--keep-alive", "5",
        "--log-level", "warning", "--timeout", "60",
    ]  # fmt: skip
    # Our own server, started with our own arguments; stopped by its pid below.
    proc = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    try:
        _wait_listening(port, proc)
        # Sequences start past anything an earlier run sent: every request is a new row.
        sequence = 1_000_000 + int(time.time()) % 1_000_000 * 100
        common = {"port": port, "token": token, "force": force, "refs": refs}
        _scenario(**common, clients=2, requests=args.warmup, seconds=30, first_sequence=sequence)
        sequence += args.warmup
        for clients in [int(c) for c in args.clients.split(",") if c]:
            row = _scenario(
                **common, clients=clients, requests=args.requests, seconds=args.seconds,
                first_sequence=sequence,
            )  # fmt: skip
            sequence += args.requests
            row["gunicorn_workers"] = args.workers
            row["load_average"] = os.getloadavg()
            print(json.dumps(row), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
