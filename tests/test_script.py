"""Script detection (vidsearch.text.script) and what each stage that asks it relies on."""
import re
from types import SimpleNamespace

import pytest

from vidsearch.text.script import (
    CJK,
    han_count,
    has_cjk,
    has_han,
    is_cjk,
    is_cjk_punct,
    is_han,
    is_unspaced,
    join_spaced_letters,
)

HAN = ["中", "猫", "㐀", "\u9fa5", "\uf900", "\U00020000", "\U0002a700", "\U00030000"]  # ext A, compat, B, G
KANA = ["あ", "の", "カ", "ー", "ㇰ", "ｶ"]  # hiragana, katakana, prolonged mark, phonetic ext, halfwidth
HANGUL = ["한", "국", "ㅋ", "\u1100"]  # syllables, compatibility and conjoining jamo
CJK_PUNCT = ["\u3000", "、", "。", "「", "」", "【", "】", "，", "！", "｡", "￥"]
FULLWIDTH = ["Ａ", "ｚ", "０", "９"]
LATIN = ["a", "Z", "0", " ", ",", "!", "é", "ß", "Ж", "α", "-", ""]


@pytest.mark.parametrize("ch", HAN)
def test_han(ch):
    assert is_han(ch) and is_cjk(ch) and is_unspaced(ch) and not is_cjk_punct(ch)


@pytest.mark.parametrize("ch", KANA)
def test_kana_is_cjk_but_not_han(ch):
    assert is_cjk(ch) and is_unspaced(ch) and not is_han(ch)


@pytest.mark.parametrize("ch", HANGUL)
def test_hangul_is_cjk_but_spaced(ch):
    assert is_cjk(ch) and not is_han(ch)
    assert not is_unspaced(ch)  # Korean puts spaces between words


@pytest.mark.parametrize("ch", CJK_PUNCT + FULLWIDTH)
def test_cjk_punctuation_and_fullwidth_forms(ch):
    assert is_cjk_punct(ch) and is_unspaced(ch)
    assert not is_cjk(ch) and not is_han(ch)


@pytest.mark.parametrize("ch", LATIN)
def test_latin_and_other_scripts_are_none_of_them(ch):
    assert not (is_han(ch) or is_cjk(ch) or is_cjk_punct(ch) or is_unspaced(ch))


def test_character_tests_take_one_character():
    assert not is_han("中文") and not is_cjk("あい") and not is_unspaced("。。")


def test_text_tests():
    assert has_han("买 iPhone 手机") and has_cjk("买 iPhone 手机")
    assert has_cjk("ありがとう") and not has_han("ありがとう")
    assert has_cjk("안녕하세요") and not has_han("안녕하세요")
    assert not has_cjk("Ｈｅｌｌｏ，ｗｏｒｌｄ！") and not has_han("hello")
    assert han_count("修身 stretch 牛仔裤 for men") == 5
    assert han_count("東京タワー") == 2 and han_count("") == 0


def test_regex_class_matches_the_function():
    pattern = re.compile(f"[{CJK}]+")
    assert pattern.findall("新款 New 新款ありがとう 한국 ，。") == ["新款", "新款ありがとう", "한국"]


# --- what each caller relies on -----------------------------------------------------------

def test_segments_join_words_without_spaces_only_in_unspaced_scripts():
    from vidsearch.ingest.segments import join_words

    assert join_words(["这杯", "咖啡", "，", "很香"]) == "这杯咖啡，很香"
    assert join_words(["東京", "タワー"]) == "東京タワー"
    assert join_words(["안녕하세요", "여러분"]) == "안녕하세요 여러분"
    assert join_words(["买", "iPhone", "手机"]) == "买 iPhone 手机"
    assert join_words(["𠀀", "中"]) == "𠀀中"  # extension B is Han too


def test_chinese_share_counts_han_against_latin_words():
    from vidsearch.models.text_encoders import chinese_share

    assert chinese_share("红色连衣裙") == 1.0
    assert chinese_share("red dress") == 0.0
    assert chinese_share("ありがとう") == 0.0 and chinese_share("안녕하세요") == 0.0  # no Han, no Latin
    assert chinese_share("修身 stretch 牛仔裤 for men") == pytest.approx(5 / (5 + 1.3 * 3))


def test_clean_collapses_repeats_in_every_cjk_script():
    from vidsearch.text.clean import clean_text

    assert clean_text("哈哈哈哈哈") == "哈哈"
    assert clean_text("ははははは") == "はは"
    assert clean_text("ㅋㅋㅋㅋㅋ") == "\u110f\u110f"  # NFKC turns compatibility jamo into conjoining ones
    assert clean_text("好看好看好看") == "好看"


def test_synonyms_refuse_a_single_character_variant_in_any_cjk_script():
    from vidsearch.text.synonyms import SynonymTable, load_synonyms

    for variant in ("喵", "ね", "옷"):
        with pytest.raises(ValueError, match="single CJK character"):
            load_synonyms({"replace_defaults": True, "groups": [{"canonical": "猫咪", "variants": [variant]}]})
    table = load_synonyms({"replace_defaults": True, "groups": [{"canonical": "猫咪", "variants": ["喵星人"]}]})
    assert isinstance(table, SynonymTable)


def test_ocr_keeps_a_single_han_character_only():
    from vidsearch.models.ocr import OcrReader

    class Canned(OcrReader):
        def read(self, image):  # type: ignore[override]
            return list(image)

    reader = Canned(single_char_score=0.9)
    box = (0.4, 0.4, 0.6, 0.6)
    lines = reader.read_frames([(0.0, [("热", 0.97, box)]), (9.0, [("の", 0.97, box)]), (18.0, [("Ｏ", 0.99, box)])])
    assert [line.text for line in lines] == ["热"]


def test_whisper_simplifies_han_whatever_the_detected_language():
    from vidsearch.models.whisper import Transcriber, _Chunk

    def seg(text, words):
        ws = [SimpleNamespace(word=w, start=i * 0.5, end=i * 0.5 + 0.4, probability=0.9) for i, w in enumerate(words)]
        return SimpleNamespace(text=text, words=ws, no_speech_prob=0.0, avg_logprob=-0.2, compression_ratio=1.2)

    chunk = _Chunk(0.0, 10.0)
    Transcriber()._pieces([seg(" 這個 很好 OK", [" 這個", " 很好", " OK"]), seg(" ありがとう", [" ありがとう"])], "en", [chunk])
    assert [p.text for p in chunk.pieces] == ["这个 很好 OK", "ありがとう"]
    assert [w.text for w in chunk.pieces[0].words] == ["这个", "很好", "OK"]


@pytest.mark.parametrize("text, joined", [
    ("限 时 秒 杀", "限时秒杀"),                # letter-spaced: one word
    ("红 富 士 苹 果   5 斤 装", "红富士苹果   5 斤装"),  # a wider gap stays a word boundary
    ("星空 梵高 1889", "星空 梵高 1889"),        # words keep their spaces
    ("小 猫咪", "小 猫咪"),                      # a lone letter beside a word stays apart
    ("a 猫 b", "a 猫 b"),
    (" 限 时", " 限时"),
    ("그 집 좋아", "그 집 좋아"),              # Korean spaces its words, one syllable or more
])
def test_lone_cjk_letters_set_apart_by_one_space_join(text, joined):
    assert join_spaced_letters(text) == joined
