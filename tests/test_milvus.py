"""A library whose vectors are in Milvus (milvus-lite, the embedded Milvus, with the same client
API as a server): the same answers as the library's own index, and the commit protocol's
promises (nothing reaches Milvus before SQLite commits; what a crash or an unreachable Milvus
left out is written by the next writer)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from tests.test_store import LAYOUT, REPO, fused, ids_of, make_video  # noqa: E402
from vidsearch.store.library import Library, LibraryError  # noqa: E402
from vidsearch.store.milvus import MilvusIndex, MilvusTarget  # noqa: E402
from vidsearch.types import Span  # noqa: E402


def lite(tmp_path: Path, name: str = "segments") -> str:
    return f"milvus-lite:{tmp_path / 'milvus' / 'vectors.db'}/{name}"


def build(db: Path, rng_seed: int, vectors: str | None, tmp_path: Path) -> tuple[dict[str, np.ndarray], Library]:
    """The same videos, changes and commits into a library at ``db``."""
    rng = np.random.default_rng(rng_seed)
    lib = Library.open(db, LAYOUT, vectors=vectors)
    vecs = {}
    for i, n in enumerate((5, 3, 4, 6)):
        v = fused(rng, n)
        vecs[f"v{i}.mp4"] = v
        lib.add_video(make_video(tmp_path / f"v{i}.mp4", n), v, size=1, mtime_ns=1)
        if i % 2:
            lib.commit()
    lib.delete_video(tmp_path / "v1.mp4")
    vid = lib.lookup(tmp_path / "v3.mp4").id
    lib.set_library_spans(vid, [Span(0.0, 4.0, "intro")])
    lib.commit()
    lib.set_library_spans(vid, [Span(0.0, 2.0, "intro")])  # one of the two hidden comes back
    lib.commit()
    return vecs, lib


def answers(lib: Library, queries: np.ndarray) -> list[list[tuple[str, float]]]:
    out = []
    for q in queries:
        rows = lib.segments([s for s, _ in lib.search(q, 6)])
        out.append([(rows[s].video_path.name, rows[s].start) for s, _ in lib.search(q, 6)])
    return out


def test_milvus_library_gives_the_embedded_answers(tmp_path: Path) -> None:
    own_vecs, own = build(tmp_path / "own", 7, None, tmp_path)
    mil_vecs, mil = build(tmp_path / "mil", 7, lite(tmp_path), tmp_path)
    queries = np.concatenate([*own_vecs.values(), fused(np.random.default_rng(3), 10)])
    try:
        assert mil.check() == [] and own.stats()["vectors"] == "index files"
        assert mil.stats() == {**own.stats(), "index_elements": mil.stats()["index_elements"], "vectors": lite(tmp_path)}
        # Milvus holds the live vectors only (a deleted one is deleted, not hidden)
        assert mil.index.count == own.index.count == mil.index.n_elements == 14
        assert answers(mil, queries) == answers(own, queries)
        v3 = mil.lookup(tmp_path / "v3.mp4").id
        hits = {s for q in mil_vecs["v3.mp4"] for s, _ in mil.search(q, 1)}
        assert hits == set(ids_of(mil, v3)[1:])  # the first still hidden, the second shown again
    finally:
        own.close()
        mil.close()
    with Library.open(tmp_path / "mil", readonly=True) as ro:
        assert answers(ro, queries) == answers(Library.open(tmp_path / "own", readonly=True), queries)
        with pytest.raises(LibraryError, match="keeps its vectors in milvus-lite:"):
            Library.open(tmp_path / "mil", vectors=lite(tmp_path, "other"))


def test_nothing_reaches_milvus_before_sqlite_commits_and_a_crash_after_is_caught_up(tmp_path: Path) -> None:
    db = tmp_path / "lib"
    target = lite(tmp_path)
    rng = np.random.default_rng(1)
    va = fused(rng, 3)
    with Library.open(db, LAYOUT, vectors=target) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 3), va, size=1, mtime_ns=1)
        assert lib.index.count == 0  # not yet committed: Milvus has nothing
        lib.close()  # dropped uncommitted
    with Library.open(db, LAYOUT) as lib:
        assert lib.index.count == 0 and lib.videos() == []
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from tests.test_store import LAYOUT, fused, make_video
        from vidsearch.store.library import Library
        lib = Library.open(Path({str(db)!r}), LAYOUT)
        lib.add_video(make_video(Path({str(tmp_path)!r}) / "a.mp4", 3), fused(np.random.default_rng(1), 3), size=1, mtime_ns=1)
        lib.commit()
        print("not reached")
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, VIDSEARCH_CRASH_AFTER="milvus"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 86, proc.stderr
    idx = MilvusIndex.connect(MilvusTarget.parse(target, db), sum(LAYOUT.values()))
    assert idx.count == 0  # SQLite committed the video, Milvus never got it
    idx.close()
    with Library.open(db, readonly=True) as ro:
        assert len(ro.videos()) == 1 and ro.search(va[0], 1) == []  # a reader waits for a writer
    with Library.open(db, LAYOUT) as lib:  # the writer writes what the log holds
        a_ids = ids_of(lib, lib.videos()[0].id)
        assert [lib.search(x, 1)[0][0] for x in va] == a_ids and lib.check() == []


def test_an_unreachable_milvus_keeps_the_commit_and_the_next_writer_catches_up(tmp_path: Path, monkeypatch,
                                                                               caplog) -> None:
    db = tmp_path / "lib"
    rng = np.random.default_rng(2)
    va, vb = fused(rng, 2), fused(rng, 2)
    with Library.open(db, LAYOUT, vectors=lite(tmp_path)) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 2), va, size=1, mtime_ns=1)
        lib.commit()

    def unreachable(self, labels, vectors) -> None:
        raise ConnectionError("Milvus is down")

    with Library.open(db, LAYOUT) as lib:
        with monkeypatch.context() as m:
            m.setattr(MilvusIndex, "add", unreachable)
            lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
            lib.commit()  # SQLite has b; Milvus does not
        assert "Milvus at" in caplog.text and "2 logged changes kept" in caplog.text
        assert len(lib.videos()) == 2 and lib.search(vb[0], 1)[0][0] not in ids_of(lib, 2)
        lib.delete_video(tmp_path / "a.mp4")
        lib.commit()  # Milvus is back: this commit writes both its own change and the kept one
        assert [lib.search(x, 1)[0][0] for x in vb] == ids_of(lib, lib.lookup(tmp_path / "b.mp4").id)
        assert lib.index.count == 2 and lib.check() == []


def test_repair_fills_a_lost_collection_from_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "lib"
    target = lite(tmp_path)
    rng = np.random.default_rng(4)
    va = fused(rng, 4)
    with Library.open(db, LAYOUT, vectors=target) as lib:
        vid = lib.add_video(make_video(tmp_path / "a.mp4", 4), va, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, vid)
    idx = MilvusIndex.connect(MilvusTarget.parse(target, db), sum(LAYOUT.values()))
    idx._client.drop_collection("segments")
    idx.close()
    with pytest.raises(LibraryError, match="collection segments at milvus-lite:.* is missing: run `vidsearch repair`"):
        Library.open(db, LAYOUT)
    with Library.repair(db) as lib:
        assert "is missing" in lib.repair_report.index_problem and lib.repair_report.to_reindex == []
        lib.commit()
    with Library.open(db, LAYOUT) as lib:
        assert lib.check() == [] and [lib.search(x, 1)[0][0] for x in va] == a_ids
        # float16 copies: the same ranking, scores within float16 rounding
        assert lib.search(va[0], 1)[0][1] == pytest.approx(len(LAYOUT), abs=1e-2)


QUERIES = ["猫咪玩毛线球", "weasels ate our telephone system", "所有线路都忙", "红色碎花连衣裙", "摩托车",
           "a bird on a branch", "限时优惠", "rocket launch", "coffee", "please hold the line"]


def test_the_fixture_library_indexed_into_milvus_answers_as_the_embedded_one(tmp_path: Path, fixture_library,
                                                                             processor) -> None:
    """The real pipeline writes through the Milvus backend (the indexer commits in batches), and
    every demo query gets the same moments, scores and confidence as from the library's own index."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.query.search import Searcher

    own_db, own_report, videos = fixture_library
    db = tmp_path / "db"
    with Library.open(db, processor.layout.as_dict(), vectors="milvus-lite:vectors.db/fixtures") as lib:
        report = index_paths(lib, [videos], processor)
    assert (db / "vectors.db").is_dir() and len(report.indexed) == len(own_report.indexed)
    with Library.open(own_db, readonly=True) as own, Library.open(db, readonly=True) as mil:
        assert mil.vectors_location == "milvus-lite:vectors.db/fixtures" and mil.check() == []
        assert mil.index.count == own.index.count == own.stats()["live_segments"]
        for q in QUERIES:
            a = Searcher(own).search(q, 5, min_confidence="any")
            b = Searcher(mil).search(q, 5, min_confidence="any")
            assert [(m.video, m.start, m.jump, m.confidence) for m in b] == \
                   [(m.video, m.start, m.jump, m.confidence) for m in a], q
            assert [m.score for m in b] == pytest.approx([m.score for m in a], abs=1e-6)


def test_milvus_never_gives_a_deleted_segment_s_id_again(tmp_path: Path) -> None:
    db = tmp_path / "lib"
    rng = np.random.default_rng(6)
    with Library.open(db, LAYOUT, vectors=lite(tmp_path)) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 3), fused(rng, 3), size=1, mtime_ns=1)
        b = lib.add_video(make_video(tmp_path / "b.mp4", 3), fused(rng, 3), size=1, mtime_ns=1)
        lib.commit()
        b_ids = ids_of(lib, b)
        lib.delete_video(tmp_path / "b.mp4")  # the highest ids
        lib.commit()
    with Library.open(db, LAYOUT) as lib:
        c = lib.add_video(make_video(tmp_path / "c.mp4", 3), fused(rng, 3), size=1, mtime_ns=1)
        lib.commit()
        assert min(ids_of(lib, c)) > max(b_ids)
