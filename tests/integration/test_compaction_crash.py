"""GDPR compaction is crash-safe: the replacement is built first, then swapped in.

A process killed half-way through (``SIGKILL``, as a crash or an OOM kill would) must leave
the course's vectors intact and searchable; so must a kill between the two renames of the
swap. The compaction goes through the store's own interface (``entries`` + ``replace``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ingest.store import ChromaStore, collection_name

ROOT = Path(__file__).resolve().parents[2]
COURSE, N, DIM = 7, 1000, 16  # 1000 entries: two pages of 500, killed after the first

_SETUP = """
import random
from ingest.store import ChromaStore
random.seed(1)
store = ChromaStore(path={path!r}, embedder_name="fake")
ids = [f"d1:1:{{i}}" for i in range({n})]
vectors = [[random.random() for _ in range({dim})] for _ in ids]
store.upsert(
    {course},
    ids,
    vectors,
    [f"passage number {{i}} about photosynthesis" for i in range({n})],
    [{{"document_id": 1, "version": 1}} for _ in ids],
)
print(store.count({course}))
"""

_COMPACT_AND_HANG = """
import time
from pathlib import Path
from app.services.gdpr import compact_collection
from ingest.store import ChromaStore
store = ChromaStore(path={path!r}, embedder_name="fake")

def halfway(copied):
    if copied >= {n} // 2:
        Path({marker!r}).write_text(str(copied))
        time.sleep(600)  # killed here, with the replacement half-built

compact_collection(store, {course}, progress=halfway)
"""

_CHECK = """
import json
from app.services.gdpr import compact_collection
from ingest.store import ChromaStore
store = ChromaStore(path={path!r}, embedder_name="fake")
before = store.count({course})
hits = store.query({course}, [0.5] * {dim}, 3)
compact_collection(store, {course})
names = sorted(c if isinstance(c, str) else c.name for c in store.client.list_collections())
print(json.dumps({{
    "before": before,
    "hits": [h.text for h in hits],
    "after": store.count({course}),
    "names": names,
}}))
"""


def _python(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code.format(**kwargs))],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _run(code: str, **kwargs) -> str:
    proc = _python(code, **kwargs)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    return out.strip().splitlines()[-1]


def test_a_compaction_killed_half_way_leaves_the_course_intact(tmp_path):
    import json

    path, marker = str(tmp_path / "chroma"), str(tmp_path / "halfway")
    assert _run(_SETUP, path=path, n=N, dim=DIM, course=COURSE) == str(N)
    proc = _python(_COMPACT_AND_HANG, path=path, n=N, course=COURSE, marker=marker)
    try:
        deadline = time.monotonic() + 120
        while not Path(marker).exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "compaction never got half-way"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    result = json.loads(_run(_CHECK, path=path, dim=DIM, course=COURSE))
    assert result["before"] == N, "the live collection lost vectors when compaction was killed"
    assert len(result["hits"]) == 3 and all("photosynthesis" in t for t in result["hits"])
    assert result["after"] == N  # the next compaction completes and cleans up the half-built one
    assert result["names"] == [collection_name(COURSE)]


def test_a_kill_between_the_two_renames_of_the_swap_is_recovered(tmp_path):
    store = ChromaStore(path=str(tmp_path / "chroma"), embedder_name="fake")
    ids = [f"d1:1:{i}" for i in range(20)]
    store.upsert(
        COURSE,
        ids,
        [[float(i % 5 == j) for j in range(DIM)] for i in range(20)],
        [f"text {i}" for i in ids],
        [{"document_id": 1} for _ in ids],
    )
    live = collection_name(COURSE)
    # the state a kill leaves right after the first rename: live renamed aside, staging complete
    store.client.get_collection(live).modify(name=f"{live}-old")
    store.client.get_or_create_collection(f"{live}-rebuild", embedding_function=None)
    fresh = ChromaStore(path=str(tmp_path / "chroma"), embedder_name="fake")  # the next process
    assert fresh.count(COURSE) == 20
    assert fresh.query(COURSE, [1.0] + [0.0] * (DIM - 1), 2)
    assert fresh.replace(COURSE, fresh.entries(COURSE)) == 20
    names = sorted(c if isinstance(c, str) else c.name for c in fresh.client.list_collections())
    assert names == [live]
