"""Notifications to staff outside Kateder: a small interface and its SMTP backend.

Used for crisis alerts by e-mail (app/services/alerts.py). Off by default: without
``SMTP_HOST`` there is no notifier and nothing is sent. Tests run the real SMTP backend
against a local server on 127.0.0.1 (tests/smtp_server.py).

Transport security is the operator's choice (docs/operations.md, "Crisis alerts by e-mail"):
``SMTP_SECURITY`` is ``none`` (a local relay), ``starttls`` (upgrade on the submission port,
587) or ``tls`` (implicit TLS, "SMTPS", port 465), with an optional login
(``SMTP_USERNAME``, ``SMTP_PASSWORD``: from the environment, never stored in the database
and never shown). *Fail closed:* with ``starttls`` a server that does not offer STARTTLS gets
nothing (no message, no password); a certificate that does not verify stops the send; a
login is only ever sent over TLS. Every failure is a :class:`NotifyError` with a ``code``
the web translates into plain language.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

SECURITY_MODES = ("none", "starttls", "tls")


@dataclass(frozen=True)
class Notice:
    """One message to one recipient, as plain text."""

    to: str
    subject: str
    body: str


class Notifier(Protocol):
    """Delivers a :class:`Notice`; raises on failure (the caller's job records it)."""

    name: str

    def send(self, notice: Notice) -> None:
        """Deliver ``notice`` now."""
        ...


class NotifyError(Exception):
    """A message that was not sent; ``code`` names why (``app/web/teacher_notifications.py``
    translates it).

    Codes: ``config`` (the settings contradict each other), ``connect`` (no connection or a
    timeout), ``no_starttls`` (TLS required, the server does not offer it), ``tls`` (the TLS
    handshake or the certificate failed), ``no_auth`` (a login is set, the server offers none),
    ``login`` (user name or password refused), ``refused`` (sender or recipient refused),
    ``smtp`` (any other answer of the server).
    """

    def __init__(self, code: str, detail: str) -> None:
        """Keep the code; ``detail`` is the English text for logs and the job's error (never the
        password)."""
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


class SmtpNotifier:
    """Sends plain-text e-mail through an SMTP server (``smtplib``), with STARTTLS or implicit TLS
    and a login."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "kateder@localhost",
        timeout: float = 10.0,
        security: str = "none",
        username: str = "",
        password: str = "",
        ca_file: str = "",
    ) -> None:
        """Use the SMTP server at ``host:port`` with ``sender`` as the From address.

        ``security`` is one of :data:`SECURITY_MODES`; ``ca_file`` a PEM bundle to verify the
        server's certificate with instead of the system's (a school's own CA).
        """
        if security not in SECURITY_MODES:
            raise ValueError(
                f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {security!r}"
            )
        self.host, self.port, self.sender, self.timeout = host, int(port), sender, float(timeout)
        self.security, self.username, self.ca_file = security, username, ca_file
        self._password = password  # not in repr, logs or errors

    def __repr__(self) -> str:
        """The server, without the password."""
        login = f", username={self.username!r}" if self.username else ""
        return f"SmtpNotifier({self.host!r}, {self.port}, security={self.security!r}{login})"

    def message(self, notice: Notice) -> EmailMessage:
        """The e-mail for ``notice``."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = notice.to
        msg["Subject"] = notice.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "localhost")
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a machine's message
        msg.set_content(notice.body)
        return msg

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified (the system's CAs, or ``ca_file``), TLS 1.2 at
        least."""
        context = ssl.create_default_context(cafile=self.ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self) -> smtplib.SMTP:
        """A connection, encrypted as configured (STARTTLS done), not yet logged in."""
        if self.username and self.security == "none":
            raise NotifyError(
                "config",
                "SMTP_USERNAME is set but SMTP_SECURITY is none: "
                "a password is never sent in clear text",
            )
        try:
            if self.security == "tls":
                return smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.tls_context()
                )
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except ssl.SSLError as exc:
            raise NotifyError("tls", f"TLS with {self.host}:{self.port} failed: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(
                "connect", f"no connection to {self.host}:{self.port}: {exc}"
            ) from exc
        if self.security == "starttls":
            try:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise NotifyError(
                        "no_starttls",
                        f"{self.host}:{self.port} does not offer STARTTLS; nothing was sent",
                    )
                smtp.starttls(context=self.tls_context())
                smtp.ehlo()  # the capabilities again, now over TLS (RFC 3207)
            except NotifyError:
                smtp.close()
                raise
            except ssl.SSLError as exc:
                smtp.close()
                raise NotifyError(
                    "tls", f"STARTTLS with {self.host}:{self.port} failed: {exc}"
                ) from exc
            except (smtplib.SMTPException, OSError) as exc:
                smtp.close()
                raise NotifyError(
                    "no_starttls",
                    f"STARTTLS with {self.host}:{self.port} failed: {exc}; nothing was sent",
                ) from exc
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        if not self.username:
            return
        try:
            smtp.login(self.username, self._password)
        except smtplib.SMTPNotSupportedError as exc:
            raise NotifyError("no_auth", f"{self.host}:{self.port} offers no login (AUTH)") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(
                "login",
                f"{self.host}:{self.port} refused the login of {self.username!r} ({exc.smtp_code})",
            ) from exc
        except smtplib.SMTPException as exc:
            raise NotifyError("no_auth", f"login at {self.host}:{self.port} failed: {exc}") from exc

    def send(self, notice: Notice) -> None:
        """Deliver ``notice``; every failure is a :class:`NotifyError` (nothing sent in clear text
        when TLS is set)."""
        smtp = self._connect()
        try:
            self._login(smtp)
            smtp.send_message(self.message(notice))
        except NotifyError:
            raise
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise NotifyError(
                "refused", f"{self.host}:{self.port} refused the message: {exc}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise NotifyError("smtp", f"{self.host}:{self.port} answered {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                "connect", f"the connection to {self.host}:{self.port} failed: {exc}"
            ) from exc
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def build_notifier(config: Mapping[str, Any]) -> Notifier | None:
    """The SMTP notifier when ``SMTP_HOST`` is set, else None (no e-mail is sent).

    Raises ``ValueError`` for an unknown ``SMTP_SECURITY``, so a typo sends nothing
    instead of sending in clear text.
    """
    host = str(config.get("SMTP_HOST") or "").strip()
    if not host:
        return None
    security = str(config.get("SMTP_SECURITY") or "none").strip().lower()
    default_port = {"none": 25, "starttls": 587, "tls": 465}.get(security, 25)
    port = int(config.get("SMTP_PORT") or default_port)
    return SmtpNotifier(
        host,
        port,
        sender=str(config.get("SMTP_FROM") or "kateder@localhost"),
        timeout=float(config.get("SMTP_TIMEOUT", 10.0)),
        security=security,
        username=str(config.get("SMTP_USERNAME") or ""),
        password=str(config.get("SMTP_PASSWORD") or ""),
        ca_file=str(config.get("SMTP_CA_FILE") or ""),
    )
