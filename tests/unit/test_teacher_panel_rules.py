"""Small rules behind the teacher panel of issue 16: near-duplicate titles, question grouping, the
notifier switch."""

from __future__ import annotations

import pytest

from app.notify import Notice, SmtpNotifier, build_notifier
from app.services.material import SIMILARITY, _score, normalise_title
from app.services.usage import _groups, normalise_question


@pytest.mark.parametrize(
    ("upload", "existing", "near"),
    [
        ("Photosynthesis (1).pdf", "Photosynthesis", True),
        ("photosynthesis - copy.docx", "Photosynthesis", True),
        ("Fotosyntes_kopia.pdf", "fotosyntes.md", True),
        ("Fotosyntés.pdf", "Fotosyntes", True),  # accents
        ("PHOTOSYNTHESES.docx", "Photosynthesis", True),  # a typo away
        ("Chapter 2.pdf", "Chapter 1", False),  # other numbers: another document
        ("water-cycle-2.md", "Water cycle", False),
        ("Volcanoes.pdf", "Photosynthesis", False),
    ],
)
def test_near_duplicate_titles(upload, existing, near):
    assert (_score(normalise_title(upload), normalise_title(existing)) >= SIMILARITY) is near


def test_questions_group_by_normalised_text_and_most_asked_needs_two_students():
    assert normalise_question("Where does  Photosynthesis happen?!") == normalise_question(
        "where does photosynthesis happen"
    )
    asked = [
        ("What is a cell?", 1),
        ("what is a cell", 2),
        ("What is a CELL ?", 1),
        ("My own question", 3),
        ("my own question", 3),
    ]
    (group,) = _groups(asked, min_students=2, limit=10)
    assert (group.count, group.students) == (3, 2) and "cell" in group.text.lower()
    assert {g.text.lower() for g in _groups(asked, min_students=1, limit=10)} >= {"my own question"}


def test_no_notifier_without_an_smtp_host():
    assert build_notifier({}) is None and build_notifier({"SMTP_HOST": " "}) is None
    notifier = build_notifier(
        {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": 2525, "SMTP_FROM": "k@school.example"}
    )
    assert isinstance(notifier, SmtpNotifier) and (notifier.host, notifier.port) == (
        "127.0.0.1",
        2525,
    )
    msg = notifier.message(Notice(to="a@school.example", subject="S", body="B"))
    assert (
        msg["From"] == "k@school.example"
        and msg["Auto-Submitted"] == "auto-generated"
        and "school.example" in msg["Message-ID"]
    )
