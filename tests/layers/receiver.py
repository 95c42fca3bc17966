"""A webhook receiver the alert tests serve themselves on loopback: it records every post and answers from a
script (then with a robot's "ok"), and checks DingTalk signatures when given the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OK = (200, {"errcode": 0, "errmsg": "ok"})


@dataclass
class Post:
    path: str
    query: dict
    headers: dict
    body: dict
    signature_ok: bool | None = None


@dataclass
class Receiver:
    answers: list = field(default_factory=list)     # (status, JSON body) for the next posts, in order; None: hang
    hung: threading.Event = field(default_factory=threading.Event)
    secret: str | None = None
    posts: list = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/robot/send?access_token=tok3n"

    def __enter__(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                post = Post(parts.path, query, dict(self.headers), json.loads(self.rfile.read(length)))
                if receiver.secret is not None:
                    expected = base64.b64encode(hmac.new(receiver.secret.encode(),
                                                         f"{query.get('timestamp')}\n{receiver.secret}".encode(),
                                                         hashlib.sha256).digest()).decode()
                    post.signature_ok = hmac.compare_digest(expected, query.get("sign", ""))
                receiver.posts.append(post)
                answer = receiver.answers.pop(0) if receiver.answers else OK
                if answer is None:  # say nothing until the test ends
                    receiver.hung.wait(60)
                    return
                status, body = answer
                if receiver.secret is not None and not post.signature_ok:
                    status, body = 200, {"errcode": 310000, "errmsg": "sign not match"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.hung.set()
        self.server.shutdown()
        self.server.server_close()
