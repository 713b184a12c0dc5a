"""A token introspection endpoint (RFC 7662) on 127.0.0.1 for the tests' mail servers.

``POST /introspect`` with the form field ``token`` answers ``{"active": true, "username": ...}`` for a
token it was given and ``{"active": false}`` for any other. Dovecot's oauth2 passdb asks it
(``introspection_mode = post``), and so does the SMTP test server. Requests are counted, never logged.
"""
from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024


class Introspection:
    """A threaded HTTP server answering introspection requests for the tokens in ``tokens`` (token -> user)."""

    def __init__(self, tokens: dict[str, str] | None = None):
        self.tokens = dict(tokens or {})
        self.asked = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 <= length <= MAX_BODY:
                    self.send_error(413)
                    return
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                token = (form.get("token") or [""])[0]
                server.asked += 1
                user = server.tokens.get(token)
                answer = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:   # no request lines (they hold nothing
                pass                                                    # secret, but keep the output clean)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.http.timeout = 1
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/introspect"
        self.thread = threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    def start(self) -> Introspection:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(5)


def introspect(url: str, token: str, timeout: float = 5.0) -> str | None:
    """Ask the endpoint at ``url`` about ``token``: the user name when active, else None."""
    data = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=timeout) as answer:
        body = json.loads(answer.read(MAX_BODY))
    if body.get("active") is True and isinstance(body.get("username"), str):
        return str(body["username"])
    return None
