"""Command-line tools for the DPO: ``kateder audit``, ``kateder retention``, ``kateder dsar``."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import click

from app.cli.common import emit, open_services


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date like 2026-09-01", param_hint=name
        ) from None


def _fail_on_gdpr_error(fn):
    """Turn a user-facing data-protection error into one line on stderr and exit 1.

    ``GdprError`` is the root of the one hierarchy, so this catches a ``RetentionError`` too.
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from app.services.gdpr import GdprError

        try:
            return fn(*args, **kwargs)
        except GdprError as exc:
            click.echo(f"error: {getattr(exc, 'message', None) or exc}", err=True)
            sys.exit(1)

    return wrapper


# -- audit ---------------------------------------------------------------------------
@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


def _school_id(services, ref: str | None) -> int | None:
    """The id of the school given by id or exact name (None when
    not given); a CLI error if unknown.
    """
    if ref is None:
        return None
    from sqlalchemy import select

    from core.models import School

    with services.db.session() as s:
        school = (
            s.get(School, int(ref))
            if ref.isdigit()
            else s.scalar(select(School).where(School.name == ref))
        )
        if school is None:
            raise click.ClickException(f"no school {ref!r}")
        return school.id


@audit_group.command("verify")
@click.option(
    "--school", "school_ref", default=None, help="Only this school's chain (id or exact name)."
)
@click.option(
    "--chain",
    "chain",
    default=None,
    help="Only this chain by key: legacy, installation or school:<id>.",
)
@click.option("--json", "as_json", is_flag=True)
def audit_verify(school_ref: str | None, chain: str | None, as_json: bool) -> None:
    """Recompute the hash chains (every chain, or one); exit 1 naming
    the chain and its first bad event.
    """
    from app.services.audit import chain_key, verify_chain

    services = open_services()
    school_id = _school_id(services, school_ref)
    if school_id is not None:
        chain = chain_key(school_id)
    with services.db.session() as s:
        report = verify_chain(s, services.audit.anchors(), chain=chain)
        if report["ok"]:
            services.audit.anchor(s, None if chain is None else [chain])
    if as_json:
        emit(report, True)
    elif report["ok"] and chain is not None:
        click.echo(
            f"audit chain {chain} intact: {report['count']} events, head {report['head'][:16]}"
        )
    elif report["ok"]:
        click.echo(f"audit chains intact: {len(report['chains'])} chains, {report['count']} events")
    else:
        click.echo(
            f"audit chain {report['chain']} broken at event {report['first_bad_seq']}: "
            f"{report['problem']}",
            err=True,
        )
    if not report["ok"]:
        sys.exit(1)


@audit_group.command("export")
@click.option("--from", "start", required=True, help="First day (UTC), e.g. 2026-09-01.")
@click.option("--to", "end", required=True, help="Last day (UTC), inclusive.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .zip to write.",
)
@click.option(
    "--school",
    "school_ref",
    default=None,
    help="One school's export: its chain only (id or exact name).",
)
@click.option("--json", "as_json", is_flag=True)
def audit_export(start: str, end: str, out: Path, school_ref: str | None, as_json: bool) -> None:
    """Write the DPIA-ready audit export (record of processing, event log, statistics, report)."""
    from app.services.dpia import build_export

    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    since = datetime.combine(first, time.min, UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, UTC)
    services = open_services()
    result = build_export(
        services, since, until, out, requested_by="cli", school_id=_school_id(services, school_ref)
    )
    emit(
        result,
        as_json,
        f"wrote {result['path']}: {result['events']} events, "
        f"chain head {result['chain_head'][:16]}, {len(result['files'])} files",
    )


# -- retention -----------------------------------------------------------------------
@click.group("retention")
def retention_group() -> None:
    """Retention periods per data category and the purge that enforces them."""


@retention_group.command("purge")
@click.option("--json", "as_json", is_flag=True)
def retention_purge(as_json: bool) -> None:
    """Delete or redact everything older than its retention period (run daily)."""
    from app.services.retention import Retention

    report = Retention(open_services()).purge()
    human = ", ".join(
        f"{k} {report[k]}"
        for k in (
            "conversation_text",
            "conversations",
            "audit_details",
            "audit_events",
            "access_log",
            "export_files",
        )
    )
    emit(report, as_json, f"retention purge done: {human}")


@retention_group.command("show")
@click.option("--json", "as_json", is_flag=True)
def retention_show(as_json: bool) -> None:
    """Show the effective retention table."""
    from app.services.retention import Retention

    table = Retention(open_services()).table()
    emit(
        table,
        as_json,
        "\n".join(f"{r['category']:18} {r['days']:>6} days  {r['description']}" for r in table),
    )


@retention_group.command("set")
@click.argument("category")
@click.argument("days", type=int)
@click.option("--json", "as_json", is_flag=True)
@_fail_on_gdpr_error
def retention_set(category: str, days: int, as_json: bool) -> None:
    """Change one category's retention period (days)."""
    from app.services.retention import Retention

    settings = Retention(open_services()).set(category, days)
    emit(settings, as_json, f"{category}: {settings[category]} days")


# -- data-subject requests -----------------------------------------------------------
@click.group("dsar")
def dsar_group() -> None:
    """Data-subject requests: access/portability export and erasure."""


@dsar_group.command("export")
@click.option("--user", "user_ref", required=True, help="Username or numeric user id.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write into.",
)
@click.option("--json", "as_json", is_flag=True)
@_fail_on_gdpr_error
def dsar_export(user_ref: str, out: Path | None, as_json: bool) -> None:
    """Write everything held about one user as JSON and a readable HTML page."""
    result = open_services().gdpr.export_subject(user_ref, out, handled_by="cli")
    emit(
        result.to_dict(),
        as_json,
        f"wrote {result.json_path} and {result.html_path} ({result.counts['messages']} messages)",
    )


@dsar_group.command("erase")
@click.option("--user", "user_ref", required=True, help="Username or numeric user id.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@_fail_on_gdpr_error
def dsar_erase(user_ref: str, yes: bool, as_json: bool) -> None:
    """Erase one user everywhere (keys, rows, text, uploads, vectors, files); print a receipt."""
    services = open_services()
    if not yes and not as_json and sys.stdin.isatty():
        click.confirm(f"Erase all data of user {user_ref!r}? This cannot be undone", abort=True)
    receipt = services.gdpr.erase_subject(user_ref, handled_by="cli")
    lines = [
        f"Erasure receipt #{receipt['request_id']} ({receipt['erased_at'][:19]} UTC)",
        f"  user {receipt['username']} (id {receipt['user_id']}, pseudonym {receipt['subject']})",
        f"  data key destroyed: {'yes' if receipt['key_destroyed'] else 'no key existed'}",
        f"  conversations {receipt['conversations']}, messages {receipt['messages']}, "
        f"guard verdicts {receipt['guard_verdicts']}",
        f"  uploads deleted {receipt['documents_deleted']}, "
        f"kept as school material {receipt['documents_unattributed']}",
        f"  earlier export files deleted {receipt['export_files_deleted']}",
        f"  audit events kept as pseudonymous skeletons {receipt['audit_events_kept']} "
        f"(erasure logged as event {receipt['audit_seq']})",
    ]
    emit(receipt, as_json, "\n".join(lines))


GROUPS = (audit_group, retention_group, dsar_group)
