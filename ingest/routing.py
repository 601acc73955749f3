"""Courses sharded over several Chroma servers: a vector store that sends each course to its own.

``CHROMA_SERVERS`` names the servers (``"a=10.0.0.5:8000,b=10.0.0.6:8000"``). Each course row
stores its server (``courses.chroma_server``). A course not yet routed goes to
``CHROMA_DEFAULT_SERVER``, or, when that is empty, to a stable hash of its id over the server
names; the choice is stored at once, so adding a server later moves no course by accident.

The route is read from the database on every call (one primary-key lookup, no cache): when
``kateder reindex --to-server`` moves a course in another process, every web worker finds it
on its new server with its next call, and nothing can go stale.

A failing server fails only its own courses: each server has its own store and client, and
its errors (chromadb's "Could not connect to a Chroma server", timeouts) reach only the
calls for courses routed to it, which the ask pipeline reports as "cannot be searched right
now" (503); the other servers' courses answer as before.

Moving a course (:func:`move_course`) never leaves it unanswerable:

1. the route becomes ``old>new``: reads stay on the old server, every write goes to both;
2. the vectors are copied (or re-embedded from the database) into the new server;
3. the two copies are compared and the new one is repaired (writes of other processes that
   were under way when the move began);
4. the route becomes ``new`` in one conditional update, only if the course's material did not
   change meanwhile (else :class:`~ingest.store.MaterialChanged`, and nothing is switched);
5. the old server's collections are deleted.

A failure before step 4 sets the route back to the old server (which answered all along) and
removes the partial copy; a process killed there leaves ``old>new``, which still answers
from the old server, and the next move of the course starts over.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from core.models import Course
from ingest.store import Batch, ChromaStore, Hit, MaterialChanged, VectorStore
from ingest.store import build_vector_store as build_single_store

log = logging.getLogger(__name__)

MOVING = ">"  # "old>new" in courses.chroma_server while a course moves
SERVER_NAME = re.compile(r"[A-Za-z0-9_-]{1,31}")  # two names and ">" fit String(64)
Embed = Callable[[list[str]], Sequence[Sequence[float]]]


def parse_servers(spec: str) -> dict[str, tuple[str, int]]:
    """``"a=host:port,b=host:port"`` as ``{name: (host, port)}`` in the order given; ValueError on
    a bad entry."""
    servers: dict[str, tuple[str, int]] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, eq, address = (part.strip() for part in entry.partition("="))
        host, colon, port = address.rpartition(":")
        host = host.strip("[]")  # [::1]:8000
        if not eq or not colon or not host or not port.isdigit():
            raise ValueError(f"CHROMA_SERVERS entry {entry!r} is not name=host:port")
        if not SERVER_NAME.fullmatch(name):
            raise ValueError(
                f"CHROMA_SERVERS name {name!r}: use up to 31 letters, digits, '_' or '-'"
            )
        if name in servers:
            raise ValueError(f"CHROMA_SERVERS names {name!r} twice")
        servers[name] = (host, int(port))
    return servers


def hashed_server(course_id: int, names: Iterable[str]) -> str:
    """A stable server for a course: the same on every host and run, whatever the order of the
    names."""
    ordered = sorted(names)
    digest = hashlib.sha256(str(int(course_id)).encode()).digest()
    return ordered[int.from_bytes(digest[:8], "big") % len(ordered)]


@dataclass(frozen=True)
class Route:
    """Where a course's vectors are: ``server`` answers; during a move writes also go to
    ``moving_to``."""

    server: str
    moving_to: str | None = None

    @classmethod
    def parse(cls, value: str) -> Route:
        """The route stored as ``"a"`` or ``"a>b"``."""
        server, _, target = value.partition(MOVING)
        return cls(server, target or None)

    def __str__(self) -> str:
        """The stored form."""
        return f"{self.server}{MOVING}{self.moving_to}" if self.moving_to else self.server


class UnknownServer(RuntimeError):
    """A course is routed to a server that ``CHROMA_SERVERS`` does not name (any more)."""


class RouteChanged(RuntimeError):
    """A course's route changed while it was being moved (another move at the same time?)."""


class RoutingStore:
    """The :class:`~ingest.store.VectorStore` interface over one store per server, course by
    course."""

    def __init__(self, db, stores: Mapping[str, VectorStore], *, default: str = "") -> None:
        """``stores`` by server name; ``default`` receives the courses not yet routed (empty:
        hash)."""
        if not stores:
            raise ValueError("a routing vector store needs at least one server")
        if default and default not in stores:
            raise ValueError(
                f"CHROMA_DEFAULT_SERVER {default!r} is not one of "
                f"CHROMA_SERVERS ({', '.join(stores)})"
            )
        self.db = db
        self.stores = dict(stores)
        self.default = default

    # ------------------------------------------------------------------ routes

    def choose(self, course_id: int) -> str:
        """The server for a course that has none yet."""
        return self.default or hashed_server(course_id, self.stores)

    def route(self, course_id: int) -> Route:
        """The course's stored route; a course not yet routed is routed now, and the choice
        stored."""
        with self.db.session() as s:
            row = s.execute(
                select(Course.id, Course.chroma_server).where(Course.id == course_id)
            ).first()
            if row is None:  # no such course (yet): route it, store nothing
                return Route(self.choose(course_id))
            stored = row.chroma_server
            if stored is None:
                # another process may route it at the same moment: the first to write wins for both
                s.execute(
                    update(Course)
                    .where(Course.id == course_id, Course.chroma_server.is_(None))
                    .values(chroma_server=self.choose(course_id))
                )
                stored = s.scalar(select(Course.chroma_server).where(Course.id == course_id))
        return Route.parse(stored)

    def server(self, name: str, *, course_id: int | None = None) -> VectorStore:
        """The store of one server."""
        try:
            return self.stores[name]
        except KeyError:
            which = f"course {course_id} is routed to" if course_id is not None else "no"
            raise UnknownServer(
                f"{which} Chroma server {name!r}, which CHROMA_SERVERS does not name "
                f"({', '.join(self.stores)}); name it again or move the course"
            ) from None

    def switch(
        self, course_id: int, *, expect: Route, to: Route, content_version: int | None = None
    ) -> bool:
        """Set the route to ``to`` if it is still ``expect`` (and the material still
        ``content_version``)."""
        with self.db.session() as s:
            query = update(Course).where(
                Course.id == course_id, Course.chroma_server == str(expect)
            )
            if content_version is not None:
                query = query.where(Course.content_version == content_version)
            return bool(s.execute(query.values(chroma_server=str(to))).rowcount)

    def _reader(self, course_id: int) -> VectorStore:
        return self.server(self.route(course_id).server, course_id=course_id)

    def _writers(self, course_id: int) -> list[VectorStore]:
        route = self.route(course_id)
        names = [route.server, *([route.moving_to] if route.moving_to else [])]
        return [self.server(name, course_id=course_id) for name in names]

    # ------------------------------------------------------------------ the store interface

    def upsert(
        self,
        course_id: int,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Upsert on the course's server (and, during a move, on the new one too)."""
        for store in self._writers(course_id):
            store.upsert(course_id, ids, embeddings, texts, metadatas)

    def delete(
        self,
        course_id: int,
        *,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        """Delete on the course's server (and, during a move, on the new one too)."""
        for store in self._writers(course_id):
            store.delete(course_id, ids=ids, where=where)

    def query(
        self,
        course_id: int,
        embedding: Sequence[float],
        k: int,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Nearest passages, from the course's server."""
        return self._reader(course_id).query(course_id, embedding, k, where)

    def count(self, course_id: int) -> int:
        """Passages of the course on its server."""
        return self._reader(course_id).count(course_id)

    def ids(self, course_id: int, where: Mapping[str, Any] | None = None) -> list[str]:
        """Passage ids on the course's server."""
        return self._reader(course_id).ids(course_id, where)

    def entries(self, course_id: int, *, page: int = 500) -> Iterator[Batch]:
        """Everything stored for the course on its server, page by page."""
        return self._reader(course_id).entries(course_id, page=page)

    def replace(self, course_id: int, batches: Iterable[Batch]) -> int:
        """Rebuild the course on its server; during a move both copies are rebuilt from one pass."""
        writers = self._writers(course_id)
        if len(writers) == 1:
            return writers[0].replace(course_id, batches)
        kept = list(batches)
        written = 0
        for store in writers:
            written = store.replace(course_id, iter(kept))
        return written

    def search_text(self, course_id: int, needle: str) -> list[str]:
        """Ids of the course's passages whose text contains ``needle`` (to verify deletion)."""
        return self._reader(course_id).search_text(course_id, needle)

    def vacuum(self) -> bool:
        """Reclaim dropped collections' space on every server that can (embedded Chroma only)."""
        done = False
        for store in self.stores.values():
            vacuum = getattr(store, "vacuum", None)
            if vacuum is not None:
                done = bool(vacuum()) or done
        return done

    def remove_elsewhere(self, course_id: int, *, keep: str) -> tuple[list[str], list[str]]:
        """Delete the course's collections on every server but ``keep``: (servers cleared, servers
        that failed)."""
        cleared, failed = [], []
        for name, store in self.stores.items():
            if name == keep:
                continue
            try:
                clear(store, course_id)
                cleared.append(name)
            except Exception as exc:  # noqa: BLE001 - reported per server; the others are still cleared
                log.warning(
                    "could not delete course %s on Chroma server %s: %s",
                    course_id,
                    name,
                    type(exc).__name__,
                )
                failed.append(name)
        return cleared, failed


def clear(store: VectorStore, course_id: int) -> None:
    """Remove everything a store holds for a course (its collections, where it can drop them)."""
    drop = getattr(store, "drop", None)
    if drop is not None:
        drop(course_id)
        return
    ids = store.ids(course_id)
    if ids:
        store.delete(course_id, ids=ids)


@dataclass(frozen=True)
class MoveResult:
    """What :func:`move_course` did."""

    course_id: int
    source: str
    target: str
    copied: int = 0  # vectors written to the target by the copy
    repaired: int = 0  # vectors the final comparison added to or removed from the target
    already: bool = False  # the course was on the target already
    old_removed: bool = (
        True  # False: a server holding an old copy could not be reached to delete it
    )
    left_on: tuple[str, ...] = ()  # the servers that still hold an old copy

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``kateder reindex --to-server --json``."""
        return {
            "course_id": self.course_id,
            "from": self.source,
            "to": self.target,
            "passages": self.copied,
            "repaired": self.repaired,
            "already": self.already,
            "old_removed": self.old_removed,
            "left_on": list(self.left_on),
        }


def move_course(
    store: RoutingStore,
    course_id: int,
    target: str,
    *,
    rebuild: Callable[[], Iterable[Batch]] | None = None,
    embed: Embed | None = None,
    content_version: Callable[[], int | None] | None = None,
    drain_seconds: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> MoveResult:
    """Move a course's vectors to the server ``target`` (the steps are in the module docstring).

    ``rebuild()`` gives the batches to write (the database's passages re-embedded); without it
    the old server's vectors are copied, which needs no model but needs the old server. With
    ``rebuild``, ``embed`` re-embeds what the comparison finds missing, and an old server that
    cannot be read is not compared at all (nothing can be written to it meanwhile).
    ``content_version()`` reads the course's material version: the switch happens only if it
    did not change during the move. ``drain_seconds`` is waited after each change of route
    so that calls which read the previous route finish first. ``progress(done, total)``
    reports the copy (``rebuild`` reports its own).
    """
    target_store = store.server(target)
    current = store.route(course_id)
    if current.server == target:  # there already, or an interrupted move away from it
        return _settle_on_target(store, course_id, current)
    source = current.server
    source_store = store.server(source, course_id=course_id)
    moving = _begin_move(store, course_id, current, target, target_store)  # step 1
    try:  # steps 2-4: any failure routes the course back to the old server
        _drain(drain_seconds)  # calls that read the old route (they wrote to the old server only)
        version = content_version() if content_version is not None else None
        compare = rebuild is None or _readable(source_store, source, course_id)
        batches = rebuild() if rebuild is not None else None
        copied = _copy(source_store, target_store, course_id, batches, progress)
        re_embed = embed if rebuild is not None else None
        repaired = _repair(source_store, target_store, course_id, embed=re_embed) if compare else 0
        _switch_to_target(store, course_id, moving, target, version, content_version)
    except BaseException:
        _roll_back(store, course_id, moving, target_store, drain_seconds)
        raise
    _drain(drain_seconds)  # reads that began on the old server finish before it is deleted
    if not _remove_old_copy(source_store, course_id, source, target):  # step 5
        return MoveResult(
            course_id, source, target, copied, repaired, old_removed=False, left_on=(source,)
        )
    return MoveResult(course_id, source, target, copied, repaired)


def _settle_on_target(store: RoutingStore, course_id: int, current: Route) -> MoveResult:
    """A course already on the target: end an interrupted move away from it, delete other copies."""
    target = current.server
    if current.moving_to is not None and not store.switch(
        course_id, expect=current, to=Route(target)
    ):
        raise RouteChanged(f"course {course_id}: the route changed meanwhile; run the move again")
    _, failed = store.remove_elsewhere(course_id, keep=target)
    return MoveResult(
        course_id, target, target, already=True, old_removed=not failed, left_on=tuple(failed)
    )


def _begin_move(
    store: RoutingStore, course_id: int, current: Route, target: str, target_store: VectorStore
) -> Route:
    """Step 1: route the course ``old>target`` (reads stay on the old server, writes go to both).

    The target's partial copy of an earlier, interrupted move is removed first; nothing is
    changed when the route changed meanwhile (:class:`RouteChanged`).
    """
    clear(target_store, course_id)  # a partial copy of an earlier, interrupted move
    moving = Route(current.server, target)
    if not store.switch(course_id, expect=current, to=moving):
        raise RouteChanged(f"course {course_id}: the route changed meanwhile; run the move again")
    if current.moving_to not in (None, target):
        # an interrupted move elsewhere left a partial copy there
        with contextlib.suppress(Exception):
            clear(store.server(current.moving_to), course_id)
    return moving


def _readable(source_store: VectorStore, source: str, course_id: int) -> bool:
    """Whether the old server answers; a lost one is not compared (the course is rebuilt from the
    database alone)."""
    try:
        source_store.count(course_id)
    except Exception as exc:  # noqa: BLE001 - a lost server: rebuild from the database alone
        log.warning(
            "Chroma server %s cannot be read (%s); course %s is rebuilt from the database only",
            source,
            type(exc).__name__,
            course_id,
        )
        return False
    return True


def _switch_to_target(
    store: RoutingStore,
    course_id: int,
    moving: Route,
    target: str,
    version: int | None,
    content_version: Callable[[], int | None] | None,
) -> None:
    """Step 4: route the course to the target alone, if its route and material did not change."""
    if store.switch(course_id, expect=moving, to=Route(target), content_version=version):
        return
    if content_version is not None and content_version() != version:
        raise MaterialChanged(
            "the course's material changed during the move; nothing was switched, run it again"
        )
    raise RouteChanged(
        f"course {course_id}: the route changed during the move; nothing was switched"
    )


def _roll_back(
    store: RoutingStore,
    course_id: int,
    moving: Route,
    target_store: VectorStore,
    drain_seconds: float,
) -> None:
    """After a failure before the switch: the old server answered all along; it alone does again.

    The target's partial copy is removed only if the route was still ``moving`` (else another
    move took over, and the copy is its own); a failure here is not raised over the first one.
    """
    with contextlib.suppress(Exception):
        if store.switch(course_id, expect=moving, to=Route(moving.server)):
            _drain(drain_seconds)
            clear(target_store, course_id)


def _remove_old_copy(source_store: VectorStore, course_id: int, source: str, target: str) -> bool:
    """Step 5: delete the old server's collections; False (logged) when it cannot be reached."""
    try:
        clear(source_store, course_id)
    except Exception as exc:  # noqa: BLE001 - moved; the old copy is reported, and the next run deletes it
        log.warning(
            "course %s moved to %s, but its copy on %s could not be deleted: %s",
            course_id,
            target,
            source,
            type(exc).__name__,
        )
        return False
    return True


def _drain(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def _copy(
    source: VectorStore,
    target: VectorStore,
    course_id: int,
    batches: Iterable[Batch] | None,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Write ``batches`` (default: the source's stored vectors) into the target's live
    collection."""
    total = 0
    if batches is None:
        total = source.count(course_id)
        batches = source.entries(course_id)
    written = 0
    for ids, embeddings, texts, metadatas in batches:
        target.upsert(course_id, ids, embeddings, texts, metadatas)
        written += len(ids)
        if progress is not None and total:
            progress(written, total)
    return written


def _repair(
    source: VectorStore,
    target: VectorStore,
    course_id: int,
    *,
    embed: Embed | None,
    passes: int = 3,
) -> int:
    """Make the target hold exactly the source's ids: what other processes wrote or deleted during
    the copy.

    Every write during a move goes to the old server first, then to the new one, so the target
    is listed before the source: an id on the target but not the source was deleted, one on
    the source but not the target was written meanwhile (copied, or re-embedded with ``embed``).
    """
    repaired = 0
    for _ in range(passes):
        on_target = set(target.ids(course_id))
        on_source = set(source.ids(course_id))
        extra, missing = on_target - on_source, on_source - on_target
        if not extra and not missing:
            break
        if extra:
            target.delete(course_id, ids=sorted(extra))
        for ids, embeddings, texts, metadatas in source.entries(course_id) if missing else ():
            pick = [i for i, pid in enumerate(ids) if pid in missing]
            if not pick:
                continue
            chosen = [texts[i] for i in pick]
            vectors = embed(chosen) if embed is not None else [embeddings[i] for i in pick]
            target.upsert(
                course_id, [ids[i] for i in pick], vectors, chosen, [metadatas[i] for i in pick]
            )
        repaired += len(extra) + len(missing)
    return repaired


def build_vector_store(
    config: Mapping[str, Any], embedder_name: str = "", *, db=None
) -> VectorStore:
    """The configured vector store: one per ``CHROMA_SERVERS`` entry behind a
    :class:`RoutingStore`, else the single one."""
    servers = parse_servers(str(config.get("CHROMA_SERVERS") or ""))
    default = str(config.get("CHROMA_DEFAULT_SERVER") or "")
    if not servers:
        if default:
            raise ValueError("CHROMA_DEFAULT_SERVER is set but CHROMA_SERVERS names no server")
        return build_single_store(config, embedder_name)
    if config.get("VECTOR_BACKEND", "chroma") != "chroma-http":
        raise ValueError(
            "CHROMA_SERVERS needs VECTOR_BACKEND=chroma-http (each entry is a `chroma run` server)"
        )
    if db is None:
        raise ValueError(
            "several Chroma servers need the database, where each course's server is stored"
        )
    stores = {
        name: ChromaStore(host=host, port=port, embedder_name=embedder_name)
        for name, (host, port) in servers.items()
    }
    return RoutingStore(db, stores, default=default)
