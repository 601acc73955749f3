"""Crisis alerts by e-mail: per-school settings, the message, and the background job that sends it.

When a question (or an answer) ends in a crisis (self-harm), the teacher's review queue
already shows a critical alert. A school may also want an e-mail, e.g. to its student
health team: its admin turns it on and sets one recipient (``School.alert_email_enabled``,
``School.alert_email_to``). The instance must have an SMTP server (``SMTP_HOST``); without
one nothing is sent.

*Choice:* the e-mail says only that there is a crisis alert in course X and links to the
review queue. It never carries the student, the question, the answer or the time: e-mail
leaves the school's control, and the queue is where access is checked and logged. It is
sent by a background job (:data:`ALERT_KIND`, ``ingest/jobs.py``), so the student's answer
never waits for a mail server; a second alert in the same course while one e-mail is
still queued does not queue another.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from app.notify import Notice, NotifyError
from app.services.i18n import N_, Translator, school_language
from core.errors import UserError
from core.models import Course, Job, School, User

log = logging.getLogger(__name__)

ALERT_KIND = "crisis_email"
REVIEW_PATH = (
    "/teach/{code}/review"  # the teacher panel's review queue (app/web/teacher_review.py: review)
)
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
# The e-mails are written in the school's language (app/services/i18n.py: school_language), not
# the language of whoever's request queued them: N_ marks them for the catalogues
# (app/translations/*/LC_MESSAGES/messages.po), a Translator writes them.
SUBJECT = N_("Kateder: crisis alert in %(course)s")
BODY = N_(
    "There is a crisis alert in the course %(course)s: a student may need help now.\n\n"
    "Open the review queue: %(link)s\n\n"
    "On purpose this e-mail says nothing about the student. Sign in to Kateder to see the alert, "
    "and follow your school's safeguarding routine.\n"
)
TEST_SUBJECT = N_("Kateder: test e-mail for crisis alerts")
TEST_BODY = N_(
    "This is a test e-mail from Kateder. Crisis alerts by e-mail for your school will be sent to "
    "this address.\n\nNothing needs to be done. When there is a real crisis alert, the e-mail says "
    "only which course it is in and links to the review queue; it never names the student.\n"
)


class AlertSettingsError(UserError):
    """A setting that cannot be saved; ``problem`` names it (the web translates it), the code is
    ``alert_<problem>``.
    """

    MESSAGES = {
        "address": "enter one e-mail address, like name@school.example",
        "no_address": "alerts by e-mail need a recipient address",
    }

    def __init__(self, problem: str) -> None:
        """Keep the problem; the English text is the exception's message (CLI, logs)."""
        super().__init__(self.MESSAGES[problem], code=f"alert_{problem}")
        self.problem = problem


@dataclass(frozen=True)
class AlertSettings:
    """A school's crisis e-mail settings."""

    enabled: bool
    address: str | None


def settings(school: School) -> AlertSettings:
    """The school's settings as stored."""
    return AlertSettings(enabled=bool(school.alert_email_enabled), address=school.alert_email_to)


def save_settings(school: School, *, enabled: bool, address: str) -> AlertSettings:
    """Validate and store the settings (an address may be kept while e-mail is off)."""
    address = address.strip()
    if address and (len(address) > 254 or not _ADDRESS.match(address)):
        raise AlertSettingsError("address")
    if enabled and not address:
        raise AlertSettingsError("no_address")
    school.alert_email_enabled, school.alert_email_to = enabled, address or None
    return settings(school)


def crisis_notice(
    *, to: str, course_title: str, course_code: str, language: str, public_url: str
) -> Notice:
    """The e-mail for a crisis alert: the course and a link to its review queue, nothing about the
    student.
    """
    tr = Translator.for_language(language)
    link = public_url.rstrip("/") + REVIEW_PATH.format(code=quote(course_code, safe=""))
    course = f"{course_title} ({course_code})"
    return Notice(
        to=to, subject=tr(SUBJECT, course=course), body=tr(BODY, course=course, link=link)
    )


def test_notice(*, to: str, language: str) -> Notice:
    """The e-mail of the settings page's "Send a test e-mail": no course, no student, no personal
    data.
    """
    tr = Translator.for_language(language)
    return Notice(to=to, subject=tr(TEST_SUBJECT), body=tr(TEST_BODY))


class CrisisAlerts:
    """Queues and sends crisis e-mails for the schools that want them."""

    def __init__(self, services) -> None:
        """Use the database, jobs, notifier, audit and config of ``services``."""
        self.s = services

    def crisis(self, course_id: int) -> int | None:
        """A crisis alert in this course: queue its e-mail if the school wants one; the job's id, or
        None.

        Never raises: the alert is in the review queue either way, and the student's answer
        must not fail because of an e-mail.
        """
        try:
            if self.s.notifier is None:
                return None
            with self.s.db.session() as s:
                course = s.get(Course, course_id)
                if course is None or not (
                    course.school.alert_email_enabled and course.school.alert_email_to
                ):
                    return None
                waiting = s.scalar(
                    select(Job.id).where(
                        Job.kind == ALERT_KIND, Job.course_id == course_id, Job.status == "queued"
                    )
                )
            if (
                waiting is not None
            ):  # that e-mail already points to the queue, where this alert is too
                return waiting
            job = self.s.jobs.enqueue_task(ALERT_KIND, course_id, {})
            self.s.start_job_thread()
            return job["id"]
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("could not queue the crisis e-mail for course %s", course_id)
            return None

    def email_task(
        self, course_id: int | None, payload: dict[str, Any], progress
    ) -> dict[str, Any]:
        """The job of :data:`ALERT_KIND`: send the e-mail, if the school still wants it (settings
        are read now).
        """
        notifier = self.s.notifier
        with self.s.db.session() as s:
            course = s.get(Course, course_id) if course_id is not None else None
            if course is None or notifier is None:
                return {
                    "sent": False,
                    "reason": "no course" if course is None else "no SMTP server",
                }
            school = course.school
            if not (school.alert_email_enabled and school.alert_email_to):
                return {"sent": False, "reason": "turned off"}
            notice = crisis_notice(
                to=school.alert_email_to,
                course_title=course.title,
                course_code=course.code,
                language=school_language(school.country),
                public_url=str(self.s.config.get("PUBLIC_URL") or ""),
            )
            school_id = school.id
        progress("send", 0.5)
        notifier.send(notice)
        with (
            self.s.db.session() as s
        ):  # no address in the audit log: staff addresses are personal data too
            self.s.audit.record(
                s,
                "crisis_email_sent",
                school_id=school_id,
                course_id=course_id,
                details={"backend": notifier.name},
            )
        return {"sent": True}

    def send_test(self, school_id: int, *, actor_id: int | None = None) -> str:
        """Send the test e-mail to the school's saved recipient now (in the request: it is a check);
        the address.

        Raises :class:`AlertSettingsError` ``no_address`` when no recipient is saved, and
        :class:`~app.notify.NotifyError` when there is no mail server (``no_server``) or
        sending failed. Audited either way, without the address.
        """
        with self.s.db.session() as s:
            school = s.get(School, school_id)
            address = school.alert_email_to if school is not None else None
            language = school_language(school.country if school is not None else None)
        if not address:
            raise AlertSettingsError("no_address")
        notifier = None
        error: str | None = None
        try:
            try:
                notifier = self.s.notifier
            except ValueError as exc:  # an unknown SMTP_SECURITY (app/notify.py: build_notifier)
                raise NotifyError("config", str(exc)) from exc
            if notifier is None:
                raise NotifyError("no_server", "SMTP_HOST is not set")
            notifier.send(test_notice(to=address, language=language))
        except NotifyError as exc:
            error = exc.code
            log.warning("the test e-mail of school %s was not sent: %s", school_id, exc.detail)
            raise
        finally:
            with self.s.db.session() as s:
                actor = s.get(User, actor_id) if actor_id is not None else None
                self.s.audit.record(
                    s,
                    "alert_test_email",
                    user=actor,
                    school_id=school_id,
                    details={
                        "sent": error is None,
                        "error": error,
                        "backend": notifier.name if notifier is not None else None,
                    },
                )
        return address
