"""Text cleaning: promo phrases, emoji/symbols and repeats leave the words that describe the picture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidsearch.text.clean import CleaningRules, clean_text, default_rules_path, has_content, load_rules


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # Chinese e-commerce copy: emoji + promo around the product name.
        ("🔥🔥限时优惠!红色碎花连衣裙 点击购买👉", "红色碎花连衣裙"),
        ("【包邮】夏季新款 新款 新款", "夏季新款"),
        ("❤️宝宝辅食❤️ 扫码关注", "宝宝辅食"),
        ("满199减30 下单立减20元 纯棉T恤", "纯棉T恤"),
        ("夏季新款|包邮|纯棉", "夏季新款 纯棉"),
        ("新款丨秒杀丨真丝衬衫", "新款 真丝衬衫"),
        ("#连衣裙 #夏季穿搭", "连衣裙 夏季穿搭"),
        ("限时🔥抢购 运动鞋", "运动鞋"),  # the emoji splits the phrase; it still matches
        # English copy: case-insensitive, whole words, OCR-glued words.
        ("BUY NOW!!! Waterproof camera ★★★ link in bio", "Waterproof camera"),
        ("Shop Now ➡️ summer dress 50% OFF", "summer dress"),
        ("BUYNOW leather jacket", "leather jacket"),
        ("Don’t miss out on this jacket", "this jacket"),
        # Fullwidth ASCII (NFKC) before matching.
        ("ＦＲＥＥ　ＳＨＩＰＰＩＮＧ　Ｒｅｄ　Ｄｒｅｓｓ", "Red Dress"),
        # Repeats.
        ("好看好看好看", "好看"),
        ("好看，好看，好看！！", "好看!"),
        ("哈哈哈哈哈", "哈哈"),
        ("wow wow wow", "wow"),
        ("WOW wow Wow!", "WOW!"),
        ("so cute so cute", "so cute"),
        ("太好看了!!!", "太好看了!"),
    ],
)
def test_realistic_copy_lines(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "text",
    [
        "Sense and Sensibility",
        "Cape Canaveral, Florida",
        "香浓咖啡",
        "每日新鲜烘焙",
        "《傲慢与偏见》第一章",
        "列夫·托尔斯泰",
        "谢谢大家",  # reduplicated words are words, not stutter
        "宝宝",
        "Bora Bora",
        "C++ 入门",
        "C# tutorial",
        "Learn C#",
        "Q & A",
        "workshop nowhere",  # "shop now" only as whole words
        "减10斤的秘诀",  # a number after 减 is not a discount without 立/下单
        "2020年",
        "iPhone 15 Pro",
    ],
)
def test_meaningful_text_is_kept(text: str) -> None:
    assert clean_text(text) == text


@pytest.mark.parametrize("promo", ["点击购买 包邮 秒杀", "★★★", "!!!", "→ 点击链接 ←", "👉👉", "【包邮】", "  ", "link in bio"])
def test_nothing_meaningful_left_gives_empty(promo: str) -> None:
    assert clean_text(promo) == ""


def test_symbols_that_mean_something_survive() -> None:
    assert clean_text("30℃ 高温") == "30°C 高温"  # NFKC spells ℃ as °C
    assert clean_text("¥99 真丝围巾") == "¥99 真丝围巾"


def test_cleaning_off_leaves_text_intact() -> None:
    text = "🔥限时优惠 好看好看好看!!! 【包邮】"
    assert clean_text(text, CleaningRules.off()) == text
    assert not CleaningRules.off().enabled


def test_each_switch_works_alone() -> None:
    only_repeats = CleaningRules(collapse_repeats=True, strip_symbols=False, normalize=False)
    assert clean_text("好看好看好看", only_repeats) == "好看"
    assert "🔥" in clean_text("🔥好看好看好看", only_repeats)
    no_symbols = CleaningRules(strip_symbols=True, collapse_repeats=False)
    assert clean_text("★ 好看好看 ★", no_symbols) == "好看好看"
    defaults = load_rules()
    keep_emoji = CleaningRules(defaults.promo_phrases, defaults.promo_patterns, strip_symbols=False)
    assert "🔥" in clean_text("🔥 点击购买 连衣裙", keep_emoji)
    assert "点击购买" not in clean_text("🔥 点击购买 连衣裙", keep_emoji)


def test_defaults_ship_as_package_data() -> None:
    data = json.loads(default_rules_path().read_text(encoding="utf-8"))
    rules = load_rules()
    for phrase in ("点击购买", "限时优惠", "立即抢购", "点击链接", "扫码关注", "包邮", "秒杀", "领券", "下单立减",
                   "关注我们", "直播间", "buy now", "limited time offer", "click to buy", "link in bio",
                   "free shipping", "shop now", "order now"):
        assert phrase in rules.promo_phrases
    assert len(rules.promo_phrases) == len(set(data["promo_phrases"]))
    assert load_rules() is load_rules()  # parsed once


def test_user_file_extends_defaults(tmp_path: Path) -> None:
    extra = tmp_path / "rules.json"
    extra.write_text(json.dumps({"_comment": "shop-specific", "promo_phrases": ["新品首发", "Exclusive deal"]},
                                ensure_ascii=False), encoding="utf-8")
    line = "新品首发 真丝围巾 点击购买 exclusive DEAL"
    assert clean_text(line) == "新品首发 真丝围巾 exclusive DEAL"  # defaults alone
    rules = load_rules(extra)
    assert clean_text(line, rules) == "真丝围巾"
    assert set(load_rules().promo_phrases) < set(rules.promo_phrases)
    assert load_rules(str(extra)) == rules  # str paths too


def test_user_file_overrides_switches_and_can_replace(tmp_path: Path) -> None:
    extra = tmp_path / "rules.json"
    extra.write_text(json.dumps({"replace_defaults": True, "promo_phrases": ["新品首发"], "strip_symbols": False}),
                     encoding="utf-8")
    rules = load_rules(extra)
    assert rules.promo_phrases == ("新品首发",) and rules.promo_patterns == ()
    assert clean_text("🔥新品首发 包邮 围巾", rules) == "🔥 包邮 围巾"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"promo_phrase": ["x"]}', "unknown cleaning-rule key"),
        ('{"promo_phrases": "x"}', "must be a list of strings"),
        ('{"strip_symbols": "yes"}', "must be true or false"),
        ('{"promo_patterns": ["(unclosed"]}', "bad promo pattern"),
    ],
)
def test_bad_user_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_rules(bad)
    assert str(bad) in str(err.value)


def test_missing_user_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope.json"):
        load_rules(tmp_path / "nope.json")


def test_has_content() -> None:
    assert has_content("a") and has_content("猫") and has_content("7")
    assert not has_content("!! ★ →")
