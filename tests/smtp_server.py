"""A tiny SMTP server on 127.0.0.1 for tests: it accepts every message and keeps it.

Just enough of RFC 5321 for ``smtplib`` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT);
no TLS, no login. ``with SmtpServer() as smtp: ... smtp.messages`` (parsed
``email.message.EmailMessage`` objects, with ``smtp.envelopes`` for the envelope).
"""

from __future__ import annotations

import socketserver
import threading
import time
from email import message_from_bytes, policy


class _Handler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        server: SmtpServer = self.server.owner  # type: ignore[attr-defined]
        self._reply("220 localhost test SMTP")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self._reply("250-localhost")
                self._reply("250 8BITMIME")
            elif verb == "HELO":
                self._reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip(), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip())
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    line = self.rfile.readline()
                    if not line or line in (b".\r\n", b".\n"):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                server.received(sender, recipients, b"".join(lines))
                self._reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpServer:
    """Runs on a free port of 127.0.0.1 while the ``with`` block lasts."""

    def __init__(self) -> None:
        """Bind to a free port."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.messages: list = []
        self.envelopes: list[tuple[str | None, list[str]]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def received(self, sender: str | None, recipients: list[str], data: bytes) -> None:
        """Keep one message."""
        with self._lock:
            self.envelopes.append((sender, recipients))
            self.messages.append(message_from_bytes(data, policy=policy.default))

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list:
        """The messages once there are ``count`` of them (or what there is after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        return list(self.messages)

    def __enter__(self) -> SmtpServer:
        """Start serving."""
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
