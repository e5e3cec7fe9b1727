#!/usr/bin/env python3
"""Run the local demo: Django's development server, a Celery worker and Celery beat.

Started by `make run` after the install, static build and migrations. It loads the demo data
(idempotent) and, once, a year of demo history (load_demo_history), starts the three processes
on the embedded default (config.settings.local: SQLite and Celery's filesystem broker under
var/), prints the demo logins once the web server answers, and supervises: Ctrl-C (or
SIGTERM) stops all three; if one dies, the others are stopped and this exits non-zero.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only this supervisor,
which then stops the children in order and waits for them: nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
HOST, PORT = "127.0.0.1", 8000
URL = f"http://{HOST}:{PORT}/"
STOP_GRACE_SECONDS = 15
READY_TIMEOUT_SECONDS = 90

PY = sys.executable
COMMANDS: dict[str, list[str]] = {
    "web": [PY, "manage.py", "runserver", f"{HOST}:{PORT}"],
    "worker": [PY, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "-c", "2"],
    "beat": [PY, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
}

stop_requested = threading.Event()
print_lock = threading.Lock()
relays: list[threading.Thread] = []


def say(text: str) -> None:
    with print_lock:
        print(text, flush=True)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def port_free() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, PORT))
        except OSError:
            return False
    return True


def load_demo_data() -> list[str]:
    """Run load_demo_data and return its login lines for the banner."""
    result = subprocess.run(  # noqa: S603 (fixed argv)
        [PY, "manage.py", "load_demo_data"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        say("load_demo_data failed; not starting.")
        sys.exit(result.returncode)
    rota = subprocess.run(  # noqa: S603 (fixed argv)
        [PY, "manage.py", "load_demo_rota"], cwd=ROOT, env=child_env(), check=False
    )
    if rota.returncode != 0:
        say("load_demo_rota failed; not starting.")
        sys.exit(rota.returncode)
    # A year of history ending today, once (the board, figures, trends and returns need it).
    history = subprocess.run(  # noqa: S603 (fixed argv)
        [PY, "manage.py", "load_demo_history"], cwd=ROOT, env=child_env(), check=False
    )
    if history.returncode != 0:
        say("load_demo_history failed; not starting.")
        sys.exit(history.returncode)
    lines = result.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Demo logins")), len(lines))
    return lines[start:]


def relay(name: str, stream: IO[str]) -> None:
    """Copy a child's output to ours, each line labelled with the child's name."""
    for line in stream:
        with print_lock:
            sys.stdout.write(f"[{name:<6}] {line}")
            sys.stdout.flush()


def start(name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(  # noqa: S603 (fixed argv)
        COMMANDS[name],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group: our Ctrl-C is not sent to it
    )
    assert proc.stdout is not None  # noqa: S101
    thread = threading.Thread(target=relay, args=(name, proc.stdout), daemon=True)
    thread.start()
    relays.append(thread)
    return proc


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def stop_all(procs: dict[str, subprocess.Popen[str]]) -> None:
    """Ask each child to stop, wait, then SIGKILL whatever is left of its process group.

    runserver's autoreloader runs the server in a child of its own, so the whole group gets
    SIGTERM. A Celery worker gets it alone: it then stops its pool itself (a warm shutdown).
    """
    for name, proc in procs.items():
        if proc.poll() is None:
            if name == "web":
                signal_group(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop within {STOP_GRACE_SECONDS} s; killing it.")
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        # Whatever is left in the group (a pool process, the reloaded server) goes too.
        signal_group(proc.pid, signal.SIGKILL)
    for thread in relays:  # let the children's last lines through before we say "Stopped."
        thread.join(timeout=2)


def web_answers() -> bool:
    try:
        with urllib.request.urlopen(URL + "healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def banner(logins: list[str]) -> None:
    rule = "=" * 72
    lines = [
        rule,
        f"  The local demo is running: {URL}",
        "  Web server, Celery worker and Celery beat are up. Ctrl-C stops all three.",
        "",
        *[f"  {line}" for line in logins],
        "",
        *second_factor_note(),
        rule,
    ]
    say("\n".join(lines))


def second_factor_note() -> list[str]:
    """The demo relaxes the second factor unless SECOND_FACTOR_RELAXED=false (local settings)."""
    relaxed = os.environ.get("SECOND_FACTOR_RELAXED", "true").strip().lower()
    if relaxed in {"0", "false", "no", "off"}:
        return [
            "  Second factor ON: the first sign-in of each user sets up an authenticator app.",
        ]
    return [
        "  Demo: second factor RELAXED (a password alone signs in; every page says so).",
        "  Never use with real data. SECOND_FACTOR_RELAXED=false make run turns it on.",
    ]


def on_signal(signum: int, frame: FrameType | None) -> None:
    stop_requested.set()


def main() -> int:
    os.chdir(ROOT)
    if not port_free():
        say(f"Port {PORT} on {HOST} is in use: is another `make run` still running?")
        return 1
    logins = load_demo_data()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in COMMANDS:
            procs[name] = start(name)
        ready = False
        started = time.monotonic()
        while not stop_requested.is_set():
            for name, proc in procs.items():
                code = proc.poll()
                if code is not None:
                    say(f"{name} exited with status {code}; stopping the others.")
                    return code if code > 0 else 1
            if not ready:
                if web_answers():
                    ready = True
                    banner(logins)
                elif time.monotonic() - started > READY_TIMEOUT_SECONDS:
                    say(
                        f"The web server has not answered on {URL} after {READY_TIMEOUT_SECONDS} s."
                    )
                    return 1
            stop_requested.wait(0.5)
        say("Stopping the web server, Celery worker and Celery beat…")
        return 0
    finally:
        stop_all(procs)
        say("Stopped.")


if __name__ == "__main__":
    sys.exit(main())
