"""A fake Twilio REST API on 127.0.0.1, for the real twilio SDK (TWILIO_API_BASE points at it).

It answers the three calls the system makes, from a script the test sets:

- POST /2010-04-01/Accounts/<AC>/Messages.json: create a message. Scripted replies: 201 with a SID
  (the default), an error status with a Twilio error code (400/21211, 429, 500), a timeout (the
  server sleeps longer than the client waits; the message may or may not have been created), or
  a hold (the message is created and the answer held until the test releases it, e.g. while it
  kills the worker that is waiting).
- GET …/Messages.json?To=…&From=…: the newest messages, for "did the first attempt go through".
- GET …/Messages/<SM>.json: one message.

Every request is recorded (method, path, query, form, Basic auth) and every created message kept,
so tests assert the exact requests and count what was really "sent".
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
FROM_NUMBER = "+447700900999"
API = "/2010-04-01/Accounts/{sid}"


@dataclass(frozen=True)
class Reply:
    kind: str = "created"  # created | error | timeout | hold | garbage
    status: int = 201
    code: int | None = None
    seconds: float = 0.0
    # For timeout and hold: whether Twilio created the message before the answer was lost.
    create: bool = True

    @classmethod
    def created(cls) -> Reply:
        return cls()

    @classmethod
    def error(cls, status: int, code: int) -> Reply:
        return cls(kind="error", status=status, code=code)

    @classmethod
    def timeout(cls, seconds: float, *, create: bool) -> Reply:
        return cls(kind="timeout", seconds=seconds, create=create)

    @classmethod
    def hold(cls) -> Reply:
        return cls(kind="hold")

    @classmethod
    def garbage(cls) -> Reply:
        """The message is created, but the answer is not JSON (a proxy's error page)."""
        return cls(kind="garbage", status=200)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    auth: tuple[str, str] | None

    def fields(self) -> dict[str, str]:
        """The form as single values (Twilio's parameters are single-valued)."""
        return {key: values[0] for key, values in self.form.items()}


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: deque[Reply] = field(default_factory=deque)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle ---

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_GET(self) -> None:
                fake._handle(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def messages_path(self) -> str:
        return API.format(sid=self.account_sid) + "/Messages.json"

    # --- what tests read ---

    def posts(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def gets(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "GET"]

    def created(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages.values())

    def then(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    # --- the server side ---

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        record = Recorded(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            form=parse_qs(raw, keep_blank_values=True),
            auth=_basic_auth(handler.headers.get("Authorization", "")),
        )
        with self.lock:
            self.requests.append(record)
        if record.auth != (self.account_sid, self.auth_token):
            self._json(handler, 401, _error(401, 20003, "Authenticate"))
            return
        base = API.format(sid=self.account_sid)
        if method == "POST" and parts.path == base + "/Messages.json":
            self._create(handler, record)
        elif method == "GET" and parts.path == base + "/Messages.json":
            self._list(handler, record)
        elif method == "GET" and parts.path.startswith(base + "/Messages/"):
            sid = parts.path.rsplit("/", 1)[-1].removesuffix(".json")
            with self.lock:
                message = self.messages.get(sid)
            if message is None:
                self._json(handler, 404, _error(404, 20404, "Not found"))
            else:
                self._json(handler, 200, message)
        else:
            self._json(handler, 404, _error(404, 20404, "Not found"))

    def _create(self, handler: BaseHTTPRequestHandler, record: Recorded) -> None:
        with self.lock:
            reply = self.script.popleft() if self.script else Reply.created()
        fields = record.fields()
        if reply.kind == "error":
            self._json(handler, reply.status, _error(reply.status, reply.code, "Scripted error"))
            return
        message = self._store(fields) if reply.create else None
        if reply.kind == "timeout":
            time.sleep(reply.seconds)
        elif reply.kind == "hold":
            self.holding.set()
            self.release.wait(timeout=120)
        if reply.kind == "garbage":
            handler.send_response(201)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", "16")
            handler.end_headers()
            handler.wfile.write(b"<html>oops</html"[:16])
        elif message is None:
            self._json(handler, 500, _error(500, 20500, "Internal error"))
        else:
            self._json(handler, 201, message)

    def _store(self, fields: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        stamp = format_datetime(datetime.now(UTC), usegmt=True)
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": fields.get("Body", ""),
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From", ""),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "GBP",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {},
            "to": fields.get("To", ""),
            "uri": API.format(sid=self.account_sid) + f"/Messages/{sid}.json",
        }
        with self.lock:
            self.messages[sid] = message
        return message

    def _list(self, handler: BaseHTTPRequestHandler, record: Recorded) -> None:
        to = record.query.get("To", [None])[0]
        sender = record.query.get("From", [None])[0]
        size = int(record.query.get("PageSize", ["50"])[0])
        with self.lock:
            found = [
                m
                for m in reversed(self.messages.values())
                if (to is None or m["to"] == to) and (sender is None or m["from"] == sender)
            ][:size]
        self._json(
            handler,
            200,
            {
                "messages": found,
                "end": max(len(found) - 1, 0),
                "first_page_uri": self.messages_path,
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": self.messages_path,
            },
        )

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout, a killed worker): as with Twilio, the work is done.
            pass


def _error(status: int, code: int | None, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
