"""A tiny SMTP server on 127.0.0.1 for tests: it accepts every message and keeps it.

Just enough of RFC 5321 for ``smtplib`` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT),
plus, when asked, STARTTLS (RFC 3207), implicit TLS ("SMTPS") and AUTH PLAIN/LOGIN
(RFC 4954): ``SmtpServer(tls=context)`` offers STARTTLS, ``SmtpServer(tls=context,
implicit=True)`` speaks TLS from the first byte, ``SmtpServer(users={"name": "password"})``
offers a login (and, with ``tls``, only after STARTTLS, as real submission servers do).
``with SmtpServer() as smtp: ... smtp.messages`` (parsed ``email.message.EmailMessage``
objects, with ``smtp.envelopes`` for the envelope and ``smtp.sessions`` for how each one
came: ``{"tls": bool, "user": str | None}``). Every line the client sent before TLS is
in ``smtp.clear_lines``, so a test can check that no password or message went in clear text.

:func:`self_signed_tls` makes a certificate for 127.0.0.1 with ``cryptography``.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socketserver
import ssl
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and the certificate's
    PEM file (the CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


class _Handler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def _line(self) -> bytes:
        raw = self.rfile.readline()
        if raw and not self.tls:
            self.server.owner.clear(raw)  # type: ignore[attr-defined]
        return raw

    def _start_tls(self) -> None:
        server: SmtpServer = self.server.owner  # type: ignore[attr-defined]
        self.request = server.tls.wrap_socket(self.request, server_side=True)  # type: ignore[union-attr]
        self.rfile = self.request.makefile("rb")
        self.wfile = self.request.makefile("wb")
        self.tls = True

    def _auth(self, command: str) -> str | None:
        """The user name once the login succeeded, else None (the reply is sent here)."""
        server: SmtpServer = self.server.owner  # type: ignore[attr-defined]
        parts = command.split()
        mechanism = parts[1].upper() if len(parts) > 1 else ""
        if mechanism == "PLAIN":
            if len(parts) > 2:
                blob = parts[2]
            else:
                self._reply("334 ")
                blob = self._line().decode().strip()
            _authzid, user, password = base64.b64decode(blob).decode().split("\0")
        elif mechanism == "LOGIN":
            self._reply("334 " + base64.b64encode(b"Username:").decode())
            user = base64.b64decode(self._line().strip()).decode()
            self._reply("334 " + base64.b64encode(b"Password:").decode())
            password = base64.b64decode(self._line().strip()).decode()
        else:
            self._reply("504 Unrecognized authentication type")
            return None
        if server.users.get(user) == password:
            self._reply("235 Authentication successful")
            return user
        self._reply("535 Authentication credentials invalid")
        return None

    def handle(self) -> None:
        self.tls = False
        try:
            self._session()
        except (ssl.SSLError, OSError, ValueError):  # a client that gave up on TLS or hung up
            return

    def _session(self) -> None:
        server: SmtpServer = self.server.owner  # type: ignore[attr-defined]
        if server.implicit:
            self._start_tls()
        self._reply("220 localhost test SMTP")
        sender, recipients, user = None, [], None
        while True:
            raw = self._line()
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                offers = ["8BITMIME"]
                if server.tls is not None and not self.tls:
                    offers.append("STARTTLS")
                if server.users and (self.tls or server.tls is None):
                    offers.append("AUTH PLAIN LOGIN")
                self._reply("250-localhost")
                for extension in offers[:-1]:
                    self._reply("250-" + extension)
                self._reply("250 " + offers[-1])
            elif verb == "HELO":
                self._reply("250 localhost")
            elif command.upper() == "STARTTLS" and server.tls is not None and not self.tls:
                self._reply("220 Ready to start TLS")
                self._start_tls()
                sender, recipients, user = (
                    None,
                    [],
                    None,
                )  # RFC 3207: everything from before is forgotten
            elif verb == "AUTH" and server.users:
                user = self._auth(command)
            elif verb == "MAIL":
                if server.users and user is None:
                    self._reply("530 Authentication required")
                    continue
                sender, recipients = command.split(":", 1)[1].strip(), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip())
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    line = self._line()
                    if not line or line in (b".\r\n", b".\n"):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                server.received(sender, recipients, b"".join(lines), tls=self.tls, user=user)
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

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit: bool = False,
        users: dict[str, str] | None = None,
    ) -> None:
        """Bind to a free port; ``tls`` offers STARTTLS (or, ``implicit``, TLS at once), ``users``
        requires a login."""
        self.tls, self.implicit, self.users = tls, implicit and tls is not None, dict(users or {})
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.messages: list = []
        self.envelopes: list[tuple[str | None, list[str]]] = []
        self.sessions: list[dict] = []
        self.clear_lines: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def clear(self, line: bytes) -> None:
        """Keep a line the client sent in clear text."""
        with self._lock:
            self.clear_lines.append(line)

    def received(
        self,
        sender: str | None,
        recipients: list[str],
        data: bytes,
        *,
        tls: bool = False,
        user: str | None = None,
    ) -> None:
        """Keep one message."""
        with self._lock:
            self.envelopes.append((sender, recipients))
            self.sessions.append({"tls": tls, "user": user})
            self.messages.append(message_from_bytes(data, policy=policy.default))

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list:
        """The messages once there are ``count`` of them (or what there is after ``timeout``
        seconds)."""
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
