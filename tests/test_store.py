"""Storage layer: real hnswlib + SQLite on a temp directory, synthetic videos and vectors."""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vidsearch.store.hnsw import index_paths, read_header
from vidsearch.store.library import DELTA_ENV, HnswIndex, Library, LibraryError
from vidsearch.types import (
    Fingerprint,
    IndexedVideo,
    Keyframe,
    Scene,
    Segment,
    Span,
    Transcript,
    Utterance,
    VideoInfo,
    Word,
)

LAYOUT = {"speech": 8, "ocr": 8, "audio": 4}
DIM = sum(LAYOUT.values())
REPO = Path(__file__).resolve().parents[1]


def fused(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fused vectors, each channel L2-normalised (like the fusion stage produces)."""
    parts = []
    for width in LAYOUT.values():
        v = rng.normal(size=(n, width)).astype(np.float32)
        parts.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(parts, axis=1)


def make_video(path: Path | str, n: int, *, seg_len: float = 2.0, removed: list[Span] | None = None,
               thumbs: bool = True, fingerprint: bool = True) -> IndexedVideo:
    path = Path(path)
    segs, utts = [], []
    for i in range(n):
        start, end = i * seg_len, (i + 1) * seg_len
        u = Utterance(f"word{i} again{i}", start, end - 0.5, "en",
                      [Word(f"word{i}", start, start + 0.5, 0.9), Word(f"again{i}", start + 0.5, end - 0.5, 0.8)])
        utts.append(u)
        segs.append(Segment(start=start, end=end, scene_index=i,
                            keyframes=[Keyframe(start + 0.5, np.zeros((2, 2, 3), np.uint8), 1.0)],
                            utterances=[u], ocr_text=f"ocr {i}", tags=[f"tag{i}", "猫"],
                            thumbnail_jpeg=(b"\xff\xd8jpeg" + bytes([i % 256])) if thumbs else None))
    info = VideoInfo(path=path, duration=n * seg_len, width=640, height=360, fps=25.0, n_frames=int(n * seg_len * 25),
                     rotation=90, has_audio=True, video_codec="h264", pix_fmt="yuv420p")
    fp = None
    if fingerprint:
        fp = Fingerprint(head_hashes=np.arange(5, dtype=np.uint64) * np.uint64(2**61),
                         tail_hashes=np.arange(3, dtype=np.uint64), hash_fps=4.0,
                         head_audio=np.array([1, 2**32 - 1], np.uint32), tail_audio=np.zeros(0, np.uint32),
                         audio_fps=8.0, duration=n * seg_len)
    return IndexedVideo(info=info, content_hash=hashlib.sha1(os.fsencode(path) + bytes([n])).hexdigest(), segments=segs,
                        removed=list(removed or []),
                        scenes=[Scene(s.start, s.end, 0, 1) for s in segs],
                        transcript=Transcript("en", utts), fingerprint=fp)


def ids_of(lib: Library, video_id: int) -> list[int]:
    return [s.id for s in lib.video_segments(video_id)]


def top1(lib: Library, vec: np.ndarray) -> int | None:
    hits = lib.search(vec, 1)
    return hits[0][0] if hits else None


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_add_commit_reopen_readonly_finds_exact_vectors(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    vecs = {}
    with Library.open(db, LAYOUT) as lib:
        for name, n in (("a.mp4", 3), ("b.mp4", 4), ("c.mp4", 2)):
            iv = make_video(tmp_path / name, n)
            v = fused(rng, n)
            uv = rng.normal(size=(n, 6)).astype(np.float32)
            vid = lib.add_video(iv, v, size=100 + n, mtime_ns=10**18 + n, utterance_vectors=uv)
            vecs[vid] = (v, uv)
        lib.commit()
    assert {p.name for p in db.iterdir()} >= {"index.json", "meta.sqlite", "thumbs", ".lock"}
    assert [p.name.startswith("index-") and p.suffix == ".hnsw" for p in index_paths(db)] == [True]

    with Library.open(db, readonly=True) as ro:
        assert ro.layout == LAYOUT and ro.dim == DIM
        for vid, (v, uv) in vecs.items():
            seg_ids = ids_of(ro, vid)
            assert len(seg_ids) == len(v)
            for sid, vec in zip(seg_ids, v):
                hits = ro.search(vec, 3)
                assert hits[0][0] == sid
                assert hits[0][1] == pytest.approx(len(LAYOUT), abs=1e-4)  # sum of per-channel cosines
                assert [s for s, _ in hits] == sorted({s for s, _ in hits}, key=[s for s, _ in hits].index)
            # re-scoring reads the float16 copy kept with the segment rows
            np.testing.assert_allclose(ro.vectors(seg_ids), v, atol=1e-3)
            utts = ro.utterances(vid, 0.0, 1e9)
            assert len(utts) == len(v)
            np.testing.assert_array_equal(np.stack([u.embedding for u in utts]), uv)
            w = utts[0].words[1]
            assert (w.text, w.start, w.end) == ("again0", 0.5, 1.5) and w.probability == pytest.approx(0.8)
            assert w[1] == w.start and tuple(w) == ("again0", 0.5, 1.5, w.probability)
            # only utterances overlapping [2, 3.9) -> the second one
            assert [u.text for u in ro.utterances(vid, 2.0, 3.9)] == ["word1 again1"]

        row = ro.lookup(tmp_path / "b.mp4")
        assert row is not None and row.status == "indexed" and row.n_segments == 4
        assert (row.size, row.mtime_ns, row.rotation, row.has_audio, row.language) == (104, 10**18 + 4, 90, True, "en")
        seg = ro.segments([ids_of(ro, row.id)[1]])[ids_of(ro, row.id)[1]]
        assert (seg.start, seg.end, seg.scene_index, seg.tags, seg.ocr_text) == (2.0, 4.0, 1, ["tag1", "猫"], "ocr 1")
        assert seg.speech_text == "word1 again1" and seg.video_path == tmp_path / "b.mp4"
        assert seg.thumbnail is not None and seg.thumbnail.read_bytes() == b"\xff\xd8jpeg\x01"
        assert seg.keyframe_times == [2.5]
        fps = dict(ro.fingerprints())
        assert set(fps) == set(vecs)
        fp = fps[row.id]
        assert fp.head_hashes.dtype == np.uint64 and fp.head_hashes[4] == np.uint64(4 * 2**61)
        assert fp.head_audio.tolist() == [1, 2**32 - 1] and fp.tail_audio.size == 0
        assert (fp.hash_fps, fp.audio_fps, fp.duration) == (4.0, 8.0, 8.0)
        st = ro.stats()
        assert (st["videos"], st["failed"], st["segments"], st["live_segments"], st["vector_width"]) == (3, 0, 9, 9, DIM)
        assert st["layout"] == LAYOUT
        # k larger than the index, and a query of the wrong width
        assert len(ro.search(fused(rng, 1)[0], 100)) == 9
        with pytest.raises(ValueError):
            ro.search(np.zeros(DIM + 1, np.float32), 1)


def test_salvage_copies_an_older_library_without_noting_its_missing_tables(tmp_path, rng):
    """A library from before ``segment_vectors`` existed: salvaging its rows is not damage."""
    import sqlite3

    from vidsearch.store.rows import SCHEMA
    from vidsearch.store.salvage import copy_readable_rows

    db = tmp_path / "lib"
    with Library.open(db, LAYOUT) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 3), fused(rng, 3), size=1, mtime_ns=1)
        lib.commit()
    con = sqlite3.connect(db / "meta.sqlite")
    con.execute("DROP TABLE segment_vectors")
    con.commit()
    con.close()
    out = tmp_path / "copy.sqlite"
    assert copy_readable_rows(db / "meta.sqlite", out, SCHEMA) == []
    con = sqlite3.connect(out)
    assert con.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 3
    con.close()


def test_stored_vectors_for_rescoring_and_an_older_library_gains_them(tmp_path, rng):
    """Search re-scores candidates with the float16 copy kept beside each segment row; a library
    written before that copy existed falls back to the index, and its next writer fills it in."""
    import sqlite3

    db = tmp_path / "lib"
    v = fused(rng, 4)
    with Library.open(db, LAYOUT) as lib:
        vid = lib.add_video(make_video(tmp_path / "a.mp4", 4, removed=[Span(0.0, 2.0, "intro")]), v,
                            size=1, mtime_ns=1)
        lib.commit()
        sids = ids_of(lib, vid)
    live = sids[1:]  # the first segment lies in the removed intro
    con = sqlite3.connect(db / "meta.sqlite")
    assert con.execute("SELECT COUNT(*) FROM segment_vectors").fetchone()[0] == 4
    # as a library of the previous release: no such table
    con.execute("DROP TABLE segment_vectors")
    con.commit()
    con.close()
    with Library.open(db, readonly=True) as ro:
        np.testing.assert_array_equal(ro.vectors(live), v[1:])  # the index's float32 copy
        with pytest.raises(KeyError):
            ro.vectors([sids[0]])  # removed: no live vector
    with Library.open(db) as lib:  # the writer adds the table and copies the vectors, hidden ones too
        pass
    con = sqlite3.connect(db / "meta.sqlite")
    stored = dict(con.execute("SELECT id, data FROM segment_vectors").fetchall())
    con.close()
    assert sorted(stored) == sids
    np.testing.assert_allclose(np.frombuffer(stored[sids[0]], np.float16), v[0], atol=1e-3)
    with Library.open(db, readonly=True) as ro:
        got = ro.vectors(live)
        np.testing.assert_array_equal(got, np.stack([np.frombuffer(stored[i], np.float16) for i in live]))
        np.testing.assert_allclose(got, v[1:], atol=1e-3)
        with pytest.raises(KeyError):
            ro.vectors([sids[0], 10_000])
    with Library.open(db) as lib:  # a video indexed again drops its old rows with its segments
        lib.add_video(make_video(tmp_path / "a.mp4", 2), fused(rng, 2), size=2, mtime_ns=2)
        lib.commit()
        new_ids = ids_of(lib, vid)
    con = sqlite3.connect(db / "meta.sqlite")
    assert sorted(r[0] for r in con.execute("SELECT id FROM segment_vectors")) == sorted(new_ids)
    con.close()


def test_empty_library_search_and_readonly_empty(tmp_path: Path, rng) -> None:
    with Library.open(tmp_path / "lib", LAYOUT) as lib:
        assert lib.search(fused(rng, 1)[0], 5) == []
    with Library.open(tmp_path / "lib", readonly=True) as ro:
        assert ro.search(fused(rng, 1)[0], 5) == [] and ro.videos() == []


def test_peek_reads_layout_and_settings_without_the_index(tmp_path: Path) -> None:
    db = tmp_path / "lib"
    assert Library.peek(db) is None  # nothing there yet
    db.mkdir()
    (db / "meta.sqlite").write_bytes(b"not a database at all")
    assert Library.peek(db) is None
    (db / "meta.sqlite").unlink()
    with Library.open(db, LAYOUT) as lib:
        lib.set_setting("clip", "ViT-B-32:laion2b_s34b_b79k")
        lib.commit()
    for path in index_paths(db):
        path.unlink()  # peek must not need the vector index
    assert Library.peek(db) == (dict(LAYOUT), {"clip": "ViT-B-32:laion2b_s34b_b79k"})


def test_replace_same_path_leaves_no_stale_segments(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    old_v, new_v = fused(rng, 3), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        vid = lib.add_video(make_video(tmp_path / "a.mp4", 3), old_v, size=1, mtime_ns=1)
        other = lib.add_video(make_video(tmp_path / "b.mp4", 2), fused(rng, 2), size=1, mtime_ns=1)
        lib.commit()
        old_ids = ids_of(lib, vid)
        old_thumbs = [s.thumbnail for s in lib.segments(old_ids).values()]
        assert all(t.exists() for t in old_thumbs)
        iv = make_video(tmp_path / "a.mp4", 2, fingerprint=False)
        assert lib.add_video(iv, new_v, size=2, mtime_ns=2) == vid  # same path keeps its id
        lib.commit()
        new_ids = ids_of(lib, vid)
        assert not set(new_ids) & set(old_ids)
        assert not any(t.exists() for t in old_thumbs)
        assert lib.segments(old_ids) == {}
        assert len(ids_of(lib, other)) == 2
    with Library.open(db, readonly=True) as ro:
        for vec in old_v:
            assert all(s not in old_ids for s, _ in ro.search(vec, 10))
        assert [top1(ro, v) for v in new_v] == new_ids
        assert ro.lookup(tmp_path / "a.mp4").n_segments == 2
        assert len(ro.utterances(vid)) == 2
        assert [v for v, _ in ro.fingerprints()] == [other]  # replaced one had none
        assert ro.stats()["segments"] == 4


def test_delete_removes_from_search(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    va, vb = fused(rng, 3), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 3), va, size=1, mtime_ns=1)
        lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
        thumbs = [s.thumbnail for s in lib.segments(a_ids).values()]
        assert lib.delete_video(tmp_path / "a.mp4") is True
        assert lib.delete_video(tmp_path / "a.mp4") is False
        lib.commit()
        assert not any(t.exists() for t in thumbs)
    with Library.open(db, readonly=True) as ro:
        assert ro.lookup(tmp_path / "a.mp4") is None
        assert ro.segments(a_ids) == {} and ro.removed_spans(a) == [] and ro.utterances(a) == []
        for vec in va:
            assert all(s not in a_ids for s, _ in ro.search(vec, 10))
        assert len(ro.search(va[0], 10)) == 2  # only b's segments remain
        with pytest.raises(KeyError):
            ro.vectors(a_ids[:1])


def test_uncommitted_changes_are_dropped_on_close(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    with Library.open(db, LAYOUT) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 2), fused(rng, 2), size=1, mtime_ns=1)
    assert list((db / "thumbs").iterdir()) == []
    with Library.open(db, readonly=True) as ro:
        assert ro.videos() == [] and ro.search(fused(rng, 1)[0], 3) == []


def test_layout_mismatch_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "lib"
    Library.open(db, LAYOUT).close()
    other = {"speech": 8, "ocr": 8, "audio": 48}
    for readonly in (False, True):
        with pytest.raises(LibraryError) as e:
            Library.open(db, other, readonly=readonly)
        msg = str(e.value)
        assert "\n" not in msg and "rebuild" in msg
        assert "speech:8,ocr:8,audio:4" in msg and "audio:48" in msg
    # same widths, other order: still another layout
    with pytest.raises(LibraryError):
        Library.open(db, {"ocr": 8, "speech": 8, "audio": 4})
    Library.open(db, dict(LAYOUT)).close()
    Library.open(db).close()  # no layout: use the stored one


def test_readonly_missing_library(tmp_path: Path) -> None:
    db = tmp_path / "nope"
    with pytest.raises(LibraryError, match=r"no library at .*nope: run `vidsearch index` first"):
        Library.open(db, readonly=True)
    assert not db.exists()  # readers never create anything
    with pytest.raises(LibraryError):
        Library.open(db)  # a writer cannot create one without a layout


def test_second_writer_gets_lock_error(tmp_path: Path) -> None:
    db = tmp_path / "lib"
    first = Library.open(db, LAYOUT)
    with pytest.raises(LibraryError, match="another indexer is writing"):
        Library.open(db, LAYOUT)
    with Library.open(db, readonly=True) as ro:  # readers ignore the lock
        assert ro.stats()["videos"] == 0
    first.close()
    Library.open(db, LAYOUT).close()


def test_failure_recorded_then_replaced_by_success(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    vb = fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        b = lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.commit()
        fid = lib.record_failure(tmp_path / "bad.mp4", "no video stream", size=7, mtime_ns=9)
        lib.commit()
        row = lib.lookup(tmp_path / "bad.mp4")
        assert (row.status, row.error, row.size, row.mtime_ns, row.n_segments) == ("failed", "no video stream", 7, 9, 0)
        assert [top1(lib, v) for v in vb] == ids_of(lib, b)  # other videos untouched
        assert lib.stats()["failed"] == 1 and lib.stats()["videos"] == 1
        # a success replaces the failure (same id); a failure of an indexed file drops its segments
        assert lib.add_video(make_video(tmp_path / "bad.mp4", 1), fused(rng, 1), size=8, mtime_ns=10) == fid
        assert lib.record_failure(tmp_path / "b.mp4", "truncated", size=2, mtime_ns=2) == b
        lib.touch(fid, 11, 12)
        lib.commit()
    with Library.open(db, readonly=True) as ro:
        row = ro.lookup(tmp_path / "bad.mp4")
        assert (row.status, row.error, row.size, row.mtime_ns, row.n_segments) == ("indexed", None, 11, 12, 1)
        assert ro.lookup(tmp_path / "b.mp4").status == "failed"
        assert all(s not in ids_of(ro, b) for s, _ in ro.search(vb[0], 5))
        assert ids_of(ro, b) == []


def test_library_spans_hide_and_unhide_segments(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    v = fused(rng, 4)  # segments [0,2) [2,4) [4,6) [6,8)
    with Library.open(db, LAYOUT) as lib:
        # per-video trim covers 3/4 of the last segment -> removed at add time
        vid = lib.add_video(make_video(tmp_path / "a.mp4", 4, removed=[Span(6.5, 8.0, "silent-tail")]),
                            v, size=1, mtime_ns=1)
        lib.commit()
        ids = ids_of(lib, vid)
        assert [top1(lib, x) for x in v[:3]] == ids[:3] and top1(lib, v[3]) != ids[3]
        # bumper [0,3): all of seg 0 and exactly half of seg 1 -> both removed
        lib.set_library_spans(vid, [Span(0.0, 3.0, "bumper-intro")])
        lib.commit()
    with Library.open(db, readonly=True) as ro:
        assert [s.removed for s in ro.video_segments(vid)] == [True, True, False, True]
        for x, sid in zip(v, ids):
            hits = [s for s, _ in ro.search(x, 4)]
            assert (sid in hits) == (sid == ids[2])
        assert ro.stats()["live_segments"] == 1
        assert {s.kind for s in ro.removed_spans(vid)} == {"bumper-intro", "silent-tail"}
        with pytest.raises(KeyError):
            ro.vectors([ids[0]])
    with Library.open(db, LAYOUT) as lib:
        # a shorter bumper (1/4 of seg 0) un-hides segs 0 and 1; the per-video trim still applies
        lib.set_library_spans(vid, [Span(0.0, 0.5, "intro")])
        assert [s.kind for s in lib.removed_spans(vid)] == ["bumper-intro", "silent-tail"]
        lib.commit()
        assert [s.removed for s in lib.video_segments(vid)] == [False, False, False, True]
        lib.set_library_spans(vid, [])
        lib.commit()
    with Library.open(db, readonly=True) as ro:
        assert [top1(ro, x) for x in v[:3]] == ids[:3]
        assert top1(ro, v[3]) != ids[3]
        assert ro.removed_spans(vid) == [Span(6.5, 8.0, "silent-tail")]


def test_non_utf8_path_round_trips(tmp_path: Path, rng) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.mp4"
    path = Path(os.fsdecode(raw))
    db = tmp_path / "lib"
    with Library.open(db, LAYOUT) as lib:
        vid = lib.add_video(make_video(path, 2), fused(rng, 2), size=3, mtime_ns=4)
        lib.commit()
    with Library.open(db, readonly=True) as ro:
        (row,) = ro.videos()
        assert row.id == vid and os.fsencode(row.path) == raw and row.path == path
        assert ro.lookup(path).id == vid
        assert ro.lookup(Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9-\xfe.mp4"))) is None
        seg = next(iter(ro.segments(ids_of(ro, vid)).values()))
        assert os.fsencode(seg.video_path) == raw


def test_capacity_grows_past_initial_size(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    n_videos, per = 12, 100  # 1200 vectors > the 1024 initial capacity
    all_v = []
    with Library.open(db, LAYOUT) as lib:
        for i in range(n_videos):
            v = fused(rng, per)
            all_v.append(v)
            lib.add_video(make_video(tmp_path / f"v{i}.mp4", per, thumbs=False, fingerprint=False), v,
                          size=1, mtime_ns=1)
            if i % 4 == 3:
                lib.commit()
        lib.commit()
        assert lib.index.capacity > 1024 and lib.index.n_elements == n_videos * per
    with Library.open(db, readonly=True) as ro:
        assert ro.index.count == n_videos * per
        vids = [r.id for r in ro.videos()]
        for vid, v in zip(vids, all_v):
            ids = ids_of(ro, vid)
            for j in (0, per - 1):
                assert top1(ro, v[j]) == ids[j]


def test_reader_keeps_its_snapshot_and_refreshes(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    va, vb = fused(rng, 2), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 2), va, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
        ro = Library.open(db, readonly=True)
        assert top1(ro, va[0]) == a_ids[0]
        b = lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.delete_video(tmp_path / "a.mp4")
        lib.commit()
        b_ids = ids_of(lib, b)
    # deleted segments vanish at once (SQLite filter); new ones need a refresh
    assert all(s not in a_ids for s, _ in ro.search(va[0], 4))
    assert top1(ro, vb[0]) is None
    assert ro.refresh() is True and ro.refresh() is False
    assert [top1(ro, x) for x in vb] == b_ids
    ro.close()


def test_reader_refreshing_mid_commit_catches_up(tmp_path: Path, rng, monkeypatch) -> None:
    """A reader that reloads between a writer's index rename and its SQLite commit sees the
    committed state then, and the next refresh (same header generation) brings the new video."""
    db = tmp_path / "lib"
    va, vb = fused(rng, 2), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 2), va, size=1, mtime_ns=1)
        lib.commit()
    ro = Library.open(db, readonly=True)
    seen_mid_commit = []
    save_index = Library._save_index

    def save_then_reader_refreshes(self) -> None:
        save_index(self)
        seen_mid_commit.append((ro.refresh(), top1(ro, vb[0])))

    monkeypatch.setattr(Library, "_save_index", save_then_reader_refreshes)
    with Library.open(db, LAYOUT) as lib:
        b = lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.commit()
        b_ids = ids_of(lib, b)
    # a new index file, rolled back to what SQLite had committed: b not there yet
    assert len(seen_mid_commit) == 1 and seen_mid_commit[0][0] is True
    assert seen_mid_commit[0][1] not in b_ids
    assert ro.stale() is True
    assert ro.refresh() is True and ro.stale() is False and ro.refresh() is False
    assert [top1(ro, x) for x in vb] == b_ids
    ro.close()


def test_hnsw_readd_of_deleted_label_unmarks_it(rng) -> None:
    idx = HnswIndex(DIM, initial_capacity=4)
    v = fused(rng, 6)
    idx.add(np.arange(3), v[:3])
    assert idx.mark_deleted([1, 1, 99]) == 1  # idempotent, unknown labels ignored
    assert idx.count == 2
    assert 1 not in idx.search(v[1], 2)[0].tolist()
    idx.add(np.array([1]), v[3:4])  # re-adding a deleted label: new vector, live again
    assert idx.count == 3
    labels, scores = idx.search(v[3], 1)
    assert labels.tolist() == [1] and scores[0] == pytest.approx(len(LAYOUT), abs=1e-4)
    np.testing.assert_allclose(idx.get([1]), v[3:4], atol=1e-6)
    idx.add(np.array([0]), v[4:5])  # updating a live label keeps the count
    assert idx.count == 3 and idx.n_elements == 3
    idx.add(np.arange(10, 13), v[:3])  # grows past the initial capacity of 4
    assert idx.count == 6 and idx.capacity >= 6 and idx.max_label == 12
    assert len(idx.search(v[0], 50)[0]) == 6


# Runs in a child process (real process death, lock released by the OS). It carries the two
# helpers' source instead of importing this module, which would pay for importing pytest.
CRASH_SCRIPT = textwrap.dedent("""
    from __future__ import annotations
    import hashlib, os, sys
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from vidsearch.store.library import Library
    from vidsearch.types import *
""") + f"LAYOUT = {LAYOUT!r}\n" + inspect.getsource(fused) + inspect.getsource(make_video) + textwrap.dedent("""
    db, tmp = Path(sys.argv[1]), Path(sys.argv[1]).parent
    lib = Library.open(db, LAYOUT)
    if sys.argv[3] == "delete-only":  # a commit that adds nothing: same element count on disk
        lib.delete_video(tmp / "b.mp4")
        lib.commit()
    rng = np.random.default_rng(99)
    lib.add_video(make_video(tmp / "new.mp4", 3), fused(rng, 3), size=1, mtime_ns=1)
    lib.add_video(make_video(tmp / "a.mp4", 2), fused(rng, 2), size=2, mtime_ns=2)  # replace a
    lib.delete_video(tmp / "b.mp4")
    lib.set_library_spans(1, [Span(0.0, 2.0, "bumper-intro")])
    lib.commit()  # VIDSEARCH_CRASH_AFTER exits the process inside
    print("not reached")
""")


@pytest.mark.parametrize("tiers", ["merge", "delta", "compact"])
@pytest.mark.parametrize(("crash_point", "second_crash"),
                         [("hnsw", None), ("header", None), ("hnsw", "header"), ("header", "hnsw")])
def test_crash_between_index_and_sqlite_keeps_last_good_state(
        tmp_path: Path, rng, crash_point: str, second_crash: str | None, tiers: str,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crashed commit's index files (and, for "header", the header naming them) are on
    disk; SQLite is not."""
    db = tmp_path / "lib"
    va, vb = fused(rng, 3), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 3), va, size=1, mtime_ns=1)
        lib.commit()  # a in the main file (one merge)
        # every commit from here merges its delta into a new main file (a compact one), or none ever does
        monkeypatch.setenv(DELTA_ENV, "1000000" if tiers == "delta" else "0")
        if tiers == "compact":
            monkeypatch.setenv("VIDSEARCH_COMPACT_FROM", "0")
        b = lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.commit()
        a_ids, b_ids = ids_of(lib, a), ids_of(lib, b)
    assert a == 1 and len(index_paths(db)) == (2 if tiers == "delta" else 1)
    assert index_paths(db)[0].suffix == (".faiss" if tiers == "compact" else ".hnsw")
    env = dict(os.environ, VIDSEARCH_CRASH_AFTER=crash_point)
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(db), str(REPO), "full"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 86, proc.stderr
    assert "not reached" not in proc.stdout
    if second_crash:
        # the next writer recovers in memory, then crashes again before persisting the repair
        proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(db), str(REPO), "delete-only"],
                              env=dict(os.environ, VIDSEARCH_CRASH_AFTER=second_crash),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 86, proc.stderr

    def check_last_good(lib: Library) -> None:
        assert [r.path.name for r in lib.videos()] == ["a.mp4", "b.mp4"]
        assert [top1(lib, x) for x in va] == a_ids  # a's old segments (un-deleted by rollback)
        assert [top1(lib, x) for x in vb] == b_ids  # b was deleted in the lost commit
        orphan_free = {s for x in fused(np.random.default_rng(99), 3) for s, _ in lib.search(x, 10)}
        assert orphan_free <= set(a_ids) | set(b_ids)
        assert len(lib.search(va[0], 50)) == 5

    caplog.set_level("INFO", logger="vidsearch.store.library")
    with Library.open(db, readonly=True) as ro:
        check_last_good(ro)
    # a header that names the lost commit's files: its previous state is loaded, not the slow
    # full reconcile; a crash before the header was written leaves nothing to undo
    assert ("rolled back" in caplog.text) == ("header" in (crash_point, second_crash))
    assert "reconciling" not in caplog.text
    n_thumbs_before = len(list((db / "thumbs").iterdir()))
    with Library.open(db, LAYOUT) as lib:
        check_last_good(lib)
        assert not list((db / "thumbs").glob("*.tmp"))
        known = {s.thumbnail.name for s in lib.segments(a_ids + b_ids).values()}
        assert {p.name for p in (db / "thumbs").iterdir()} == known  # orphan thumbs removed
        assert n_thumbs_before == len(known) + (0 if second_crash else 5)  # 2nd writer already did
        # adding again works, with fresh labels above every orphan
        vn = fused(rng, 3)
        n = lib.add_video(make_video(tmp_path / "new.mp4", 3), vn, size=1, mtime_ns=1)
        lib.commit()
        n_ids = ids_of(lib, n)
        assert min(n_ids) > max(a_ids + b_ids)
    with Library.open(db, readonly=True) as ro:
        assert [top1(ro, x) for x in vn] == n_ids
        assert [top1(ro, x) for x in va] == a_ids
        hits = [s for s, _ in ro.search(vn[0], 100)]
        assert sorted(hits) == sorted(set(hits)) == sorted(a_ids + b_ids + n_ids)  # no duplicates
        assert ro.stats()["segments"] == 8 and ro.stats()["live_segments"] == 8


def test_commits_write_a_delta_and_merge_it_past_its_limit(tmp_path: Path, rng, monkeypatch) -> None:
    """A commit below the merge limit writes only a small delta file and the header (a deletion
    in the main file is a header entry); past the limit the delta is merged into a new main file.
    A reader refreshing after a commit without a merge keeps its loaded main tier."""
    db = tmp_path / "lib"
    monkeypatch.setenv(DELTA_ENV, "0")
    va, vb, vc = fused(rng, 6), fused(rng, 3), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 6), va, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
        (main,) = index_paths(db)
        main_stat = main.stat()
        monkeypatch.setenv(DELTA_ENV, "100")
        ro = Library.open(db, readonly=True)
        loaded_main = ro.index.main
        b = lib.add_video(make_video(tmp_path / "b.mp4", 3), vb, size=1, mtime_ns=1)
        lib.set_library_spans(a, [Span(0.0, 4.0, "intro")])  # hides a's first two segments
        lib.commit()
        b_ids = ids_of(lib, b)
        assert index_paths(db)[0] == main and len(index_paths(db)) == 2
        assert main.stat().st_mtime_ns == main_stat.st_mtime_ns  # the main file was not written
        assert read_header(db)["main_changes"] == {"live": [], "dead": [[a_ids[0], a_ids[1]]]}
        assert ro.refresh() is True and ro.index.main is loaded_main  # kept, not read again
        assert [top1(ro, x) for x in vb] == b_ids
        assert [top1(ro, x) for x in va[2:]] == a_ids[2:] and top1(ro, va[0]) != a_ids[0]
        lib.set_library_spans(a, [])  # shown again: the header says so, still no new main
        lib.commit()
        assert index_paths(db)[0] == main and read_header(db)["main_changes"]["live"] == [[a_ids[0], a_ids[1]]]
        monkeypatch.setenv(DELTA_ENV, "5")
        c = lib.add_video(make_video(tmp_path / "c.mp4", 2), vc, size=1, mtime_ns=1)
        lib.delete_video(tmp_path / "b.mp4")
        lib.commit()  # 3 + 2 vectors in the delta: merged into a new main file
        c_ids = ids_of(lib, c)
        (new_main,) = index_paths(db)
        assert new_main != main and not main.exists()
        assert sorted(p.name for p in db.glob("*.hnsw")) == [new_main.name]  # old files removed
        assert read_header(db)["main_changes"] == {"live": [], "dead": []}
    for lib in (ro, Library.open(db, readonly=True), Library.open(db, LAYOUT)):
        lib.refresh()
        assert [top1(lib, x) for x in va] == a_ids and [top1(lib, x) for x in vc] == c_ids
        assert all(top1(lib, x) not in b_ids for x in vb)
        assert lib.index.count == 8 and lib.index.n_elements == 11  # b's stay, deleted
        if not lib.readonly:
            assert lib.check() == []
            lib.set_library_spans(a, [Span(0.0, 2.0, "intro")])  # a hidden vector can come back
            lib.commit()
        lib.close()


def test_a_library_from_before_the_tiers_opens_and_moves_to_them(tmp_path: Path, rng, monkeypatch) -> None:
    """A library whose header names one ``index.hnsw`` (format 1) is searched as it is; its next
    commit writes a delta beside that file, and a merge replaces it."""
    db = tmp_path / "lib"
    va, vb = fused(rng, 4), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 4), va, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
    header = read_header(db)
    (main,) = index_paths(db)
    main.rename(db / "index.hnsw")
    old = {"format": 1, "layout": header["layout"], "dim": header["dim"], "count": 4, "deleted": 0,
           "max_label": header["max_label"], "hnsw": header["hnsw"], "generation": header["generation"],
           "base_generation": header["generation"] - 1, "base_count": 0, "base_deleted": 0,
           "revert": {"live": [], "dead": [[0, 3]]}}
    (db / "index.json").write_text(json.dumps(old))
    with Library.open(db, readonly=True) as ro:
        assert [top1(ro, x) for x in va] == a_ids
    monkeypatch.setenv(DELTA_ENV, "100")
    with Library.open(db, LAYOUT) as lib:
        assert lib.check() == []
        b = lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.commit()
        b_ids = ids_of(lib, b)
        assert [p.name for p in index_paths(db)][0] == "index.hnsw" and read_header(db)["format"] == 2
        monkeypatch.setenv(DELTA_ENV, "0")
        lib.delete_video(tmp_path / "a.mp4")
        lib.commit()
        assert not (db / "index.hnsw").exists() and len(index_paths(db)) == 1
    with Library.open(db, readonly=True) as ro:
        assert [top1(ro, x) for x in vb] == b_ids and ro.index.count == 2


ADD_CHANNEL_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from vidsearch.store.library import Library
    lib = Library.open(Path(sys.argv[1]))
    lib.add_channel("visual", {"visual": 6, **lib.layout}, {"clip_model": "test"})
    print("not reached")
""")


@pytest.mark.parametrize("crash", [None, "hnsw", "header"])
def test_a_channel_is_added_with_its_staged_blocks_in_one_commit(tmp_path: Path, rng, crash: str | None) -> None:
    """Adding a channel gives every segment its staged block (zero where none was staged) at
    the new width, hidden segments staying hidden; a crash before SQLite commits leaves the
    library at its old width with the blocks still staged, and doing it again finishes it."""
    db = tmp_path / "lib"
    va, vb = fused(rng, 3), fused(rng, 2)
    visual = rng.normal(size=(5, 6)).astype(np.float32)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 3, removed=[Span(0.0, 2.0, "intro")]), va, size=1, mtime_ns=1)
        b = lib.add_video(make_video(tmp_path / "b.mp4", 2), vb, size=1, mtime_ns=1)
        lib.commit()
        ids = ids_of(lib, a) + ids_of(lib, b)
        lib.stage_channel("visual", dict(zip(ids[:4], visual[:4])))  # b's last segment: no picture
        lib.commit()
        assert lib.staged("visual") == set(ids[:4])
    if crash:
        proc = subprocess.run([sys.executable, "-c", ADD_CHANNEL_SCRIPT, str(db), str(REPO)],
                              env=dict(os.environ, VIDSEARCH_CRASH_AFTER=crash), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 86, proc.stderr
        with Library.open(db, readonly=True) as ro:  # as it was
            assert ro.layout == LAYOUT and [top1(ro, x) for x in va[1:]] == ids[1:3]
        with Library.open(db) as lib:
            assert lib.staged("visual") == set(ids[:4]) and lib.check() == []
    with Library.open(db) as lib:
        lib.add_channel("visual", {"visual": 6, **LAYOUT}, {"clip_model": "test"})
        assert lib.staged("visual") == set()
    with Library.open(db, readonly=True) as ro:
        assert ro.layout == {"visual": 6, **LAYOUT} and ro.setting("clip_model") == "test"
        unit = visual / np.linalg.norm(visual, axis=1, keepdims=True)
        wide = np.concatenate([np.vstack([unit[:4], np.zeros((1, 6), np.float32)]), np.vstack([va, vb])], axis=1)
        np.testing.assert_allclose(ro.vectors(ids[1:]), wide[1:], atol=2e-3)
        assert [top1(ro, x) for x in wide[1:]] == ids[1:]  # the hidden intro segment stays hidden
        assert top1(ro, wide[0]) != ids[0] and ro.index.count == 4 and ro.index.n_elements == 5
    with Library.open(db) as lib:
        assert lib.check() == []
        with pytest.raises(LibraryError, match="is not its layout"):
            lib.add_channel("visual", {"visual": 6, **LAYOUT}, {})


@pytest.mark.parametrize("moment", ["header renamed", "committed"])
def test_a_reader_loading_files_a_writer_removes_takes_the_state_after(tmp_path: Path, rng, moment: str,
                                                                       monkeypatch) -> None:
    """A reader that read the header just before a writer's commit removed the files it names
    loads the new state instead of calling the library damaged: whether it had read a header
    ahead of SQLite (and chosen the previous state) or one in step. Its check after the writer's
    next commit is clean too."""
    from vidsearch.store import hnsw

    db = tmp_path / "lib"
    lib = Library.open(db, LAYOUT)
    lib.add_video(make_video(tmp_path / "a.mp4", 3), fused(rng, 3), size=1, mtime_ns=1)
    lib.commit()
    vb = fused(rng, 3)
    lib.add_video(make_video(tmp_path / "b.mp4", 3), vb, size=1, mtime_ns=1)
    load, done = hnsw.HnswIndex.load.__func__, []

    def finish_commit() -> None:
        if moment == "header renamed":  # SQLite commits now, then the files of its previous state go
            lib._db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(lib._journal.generation),))
            lib._db.execute("COMMIT")
            lib._in_txn = False
            lib._journal.committed()
        else:
            lib.commit()

    def load_after_the_writer(cls, *args, **kwargs):
        if not done:
            done.append(1)
            finish_commit()
        return load(cls, *args, **kwargs)

    if moment == "header renamed":
        lib._save_index()  # the header names the new files; SQLite is one generation behind
    monkeypatch.setattr(hnsw.HnswIndex, "load", classmethod(load_after_the_writer))
    ro = Library.open(db, readonly=True)
    monkeypatch.undo()
    assert done and ro.index.count == 6 and top1(ro, vb[0]) is not None
    lib.add_video(make_video(tmp_path / "c.mp4", 2), fused(rng, 2), size=1, mtime_ns=1)
    lib.commit()  # removes the files the reader loaded
    assert ro.check() == []
    ro.close()
    lib.close()


def test_repair_after_a_crashed_channel_switch_keeps_every_vector(tmp_path: Path, rng) -> None:
    db = tmp_path / "lib"
    va = fused(rng, 5)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 5), va, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
    proc = subprocess.run([sys.executable, "-c", ADD_CHANNEL_SCRIPT, str(db), str(REPO)],
                          env=dict(os.environ, VIDSEARCH_CRASH_AFTER="header"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 86, proc.stderr
    with Library.repair(db) as lib:  # the files of the state SQLite has, not the lost commit's
        report = lib.repair_report
        assert report.index_problem is None and report.to_reindex == []
        lib.commit()
        assert lib.layout == LAYOUT and [top1(lib, x) for x in va] == a_ids


def test_a_large_main_tier_is_kept_compact_and_checked_by_its_digest(tmp_path: Path, rng, monkeypatch) -> None:
    """Past the compact size the main tier is rebuilt as FAISS HNSW-SQ8 at its merge: search,
    hidden labels, deletions, reader refresh, a reopen and later merges behave as with hnswlib;
    a damaged compact file is found by its digest and repair rebuilds it from SQLite's copies."""
    from vidsearch.store.compact import COMPACT_ENV, CompactIndex

    monkeypatch.setenv(COMPACT_ENV, "10")
    monkeypatch.setenv(DELTA_ENV, "0")
    db = tmp_path / "lib"
    va, vb, vc = fused(rng, 12), fused(rng, 3), fused(rng, 2)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 12, removed=[Span(0.0, 2.0, "intro")]), va,
                          size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
        assert isinstance(lib.index.main, CompactIndex) and index_paths(db)[0].suffix == ".faiss"
        assert [top1(lib, x) for x in va[1:]] == a_ids[1:] and top1(lib, va[0]) != a_ids[0]
        ro = Library.open(db, readonly=True)
        monkeypatch.setenv(DELTA_ENV, "100")
        b = lib.add_video(make_video(tmp_path / "b.mp4", 3), vb, size=1, mtime_ns=1)
        lib.set_library_spans(a, [Span(0.0, 6.0, "intro")])  # hides two more main labels
        lib.commit()
        b_ids = ids_of(lib, b)
        assert ro.refresh() is True and isinstance(ro.index.main, CompactIndex)
        assert [top1(ro, x) for x in vb] == b_ids and top1(ro, va[2]) != a_ids[2] and ro.index.count == 12
        monkeypatch.setenv(DELTA_ENV, "0")
        c = lib.add_video(make_video(tmp_path / "c.mp4", 2), vc, size=1, mtime_ns=1)
        lib.delete_video(tmp_path / "b.mp4")
        lib.commit()  # merged into a new compact file
        c_ids = ids_of(lib, c)
        assert lib.check() == [] and len(index_paths(db)) == 1
    ro.close()
    with Library.open(db, readonly=True) as ro:
        assert [top1(ro, x) for x in va[3:]] == a_ids[3:] and [top1(ro, x) for x in vc] == c_ids
        assert all(top1(ro, x) not in b_ids for x in vb) and ro.index.count == 11
    (main,) = index_paths(db)
    pristine = main.read_bytes()
    for at in (len(pristine) // 2, len(pristine) - 40):  # in the graph (FAISS refuses it), in a vector
        data = bytearray(pristine)
        data[at] ^= 0xFF
        main.write_bytes(bytes(data))
        with pytest.raises(LibraryError, match=f"{main.name} is damaged"):
            Library.open(db, LAYOUT)
    with Library.repair(db) as lib:  # from SQLite's float16 copies
        assert "is damaged" in lib.repair_report.index_problem and lib.repair_report.to_reindex == []
        lib.commit()
    with Library.open(db, LAYOUT) as lib:
        assert lib.check() == [] and [top1(lib, x) for x in va[3:]] == a_ids[3:]
        assert [top1(lib, x) for x in vc] == c_ids and top1(lib, va[0]) != a_ids[0]


def test_a_compact_tier_keeps_a_channel_its_sample_lacked(rng) -> None:
    """The quantiser's ranges come from a sample; a block that is all zeros there (early videos
    without sound) must still be searchable in the vectors added later."""
    from vidsearch.store.compact import CompactIndex

    early = fused(rng, 400)
    early[:, -4:] = 0.0  # no audio block in the sample
    later = fused(rng, 50)
    idx = CompactIndex(DIM)
    idx.train(early)
    idx.add(np.arange(400), early)
    idx.add(np.arange(400, 450), later)
    audio_only = np.zeros_like(later)
    audio_only[:, -4:] = later[:, -4:]
    hits = [int(idx.search(q, 1)[0][0]) for q in audio_only]
    assert np.mean(np.asarray(hits) == np.arange(400, 450)) > 0.9
    np.testing.assert_allclose(idx.get([420])[0], later[20], atol=0.01)


def test_a_compact_library_without_its_header_is_repaired_from_sqlite(tmp_path: Path, rng, monkeypatch) -> None:
    from vidsearch.store.compact import COMPACT_ENV

    monkeypatch.setenv(COMPACT_ENV, "5")
    monkeypatch.setenv(DELTA_ENV, "0")
    db = tmp_path / "lib"
    va = fused(rng, 8)
    with Library.open(db, LAYOUT) as lib:
        a = lib.add_video(make_video(tmp_path / "a.mp4", 8), va, size=1, mtime_ns=1)
        lib.commit()
        a_ids = ids_of(lib, a)
        monkeypatch.setenv(DELTA_ENV, "100")
        lib.add_video(make_video(tmp_path / "b.mp4", 2), fused(rng, 2), size=1, mtime_ns=1)
        lib.commit()
        assert index_paths(db)[0].suffix == ".faiss" and read_header(db)["hnsw"]["ef"] == 256  # the delta's
    (db / "index.json").unlink()
    with Library.repair(db) as lib:
        assert lib.repair_report.to_reindex == []
        lib.commit()
    with Library.open(db, LAYOUT) as lib:
        assert lib.check() == [] and [top1(lib, x) for x in va] == a_ids
