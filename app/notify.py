"""Notifications to staff outside Kateder: a small interface and its SMTP backend.

Used for crisis alerts by e-mail (app/services/alerts.py). Off by default: without
``SMTP_HOST`` there is no notifier and nothing is sent. Tests run the real SMTP backend
against a local server on 127.0.0.1 (tests/smtp_server.py).
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol


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


class SmtpNotifier:
    """Sends plain-text e-mail through an SMTP server (``smtplib``, no login, no TLS: a local relay)."""

    name = "smtp"

    def __init__(self, host: str, port: int = 25, *, sender: str = "kateder@localhost", timeout: float = 10.0) -> None:
        """Use the SMTP server at ``host:port`` with ``sender`` as the From address."""
        self.host, self.port, self.sender, self.timeout = host, int(port), sender, float(timeout)

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

    def send(self, notice: Notice) -> None:
        """Deliver ``notice`` (``smtplib`` errors and ``OSError`` propagate)."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(self.message(notice))


def build_notifier(config: Mapping[str, Any]) -> Notifier | None:
    """The SMTP notifier when ``SMTP_HOST`` is set, else None (no e-mail is sent)."""
    host = str(config.get("SMTP_HOST") or "").strip()
    if not host:
        return None
    return SmtpNotifier(host, int(config.get("SMTP_PORT", 25)), sender=str(config.get("SMTP_FROM") or "kateder@localhost"),
                        timeout=float(config.get("SMTP_TIMEOUT", 10.0)))
