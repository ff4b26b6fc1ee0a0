"""On-screen text: PP-OCRv4 reads the fixture cards at OCR_SIDE, finds nothing on photos,
merges a scene's frames into one line each, and cleans promo copy off product text."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime")
av = pytest.importorskip("av")

from tests.conftest import VIDEOS, fixture_info  # noqa: E402
from vidsearch.media.frames import analysis_size, frame_to_rgb  # noqa: E402
from vidsearch.models.ocr import OCR_SIDE, OcrLine, OcrReader, OcrUnavailable, _SpaceBoost  # noqa: E402
from vidsearch.text.clean import CleaningRules  # noqa: E402

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    reader = OcrReader(threads=2)
    reader.read(np.zeros((32, 32, 3), np.uint8))  # load the models once for the module
    return reader


def decode_at(truth: dict, name: str, times: list[float]) -> list[tuple[float, np.ndarray]]:
    """Frames at ``times`` (the first frame at or after each), decoded as the pipeline's OCR
    copies are: ``frame_to_rgb`` at longest side ``OCR_SIDE``, never upscaled."""
    info = fixture_info(name, truth["videos"][name])
    w, h = analysis_size(info, min(OCR_SIDE, max(info.width, info.height)))
    out = []
    with av.open(str(VIDEOS / name)) as container:
        stream = container.streams.video[0]
        for t in times:
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
            frame = next(f for f in container.decode(stream) if f.time >= t - 1e-3)
            out.append((float(frame.time), frame_to_rgb(frame, w, h)))
    return out


def edits(a: str, b: str) -> int:
    """Characters to change to turn ``a`` into ``b`` (difflib opcodes)."""
    ops = difflib.SequenceMatcher(None, a, b).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def assert_reads(expected: str, texts: list[str]) -> None:
    """Exact, or within one character (CER tolerance) of the closest reading."""
    if expected in texts:
        return
    closest = min(texts, key=lambda t: edits(expected, t), default="")
    assert edits(expected, closest) <= 1, f"expected {expected!r}, read {texts!r}"


# Shots with on-screen text in fixtures/videos/ground_truth.json, a time inside each.
CARDS = [
    ("coffee_portrait.mp4", 14.0),  # 720x1280 portrait product card, 10-18 s
    ("lecture.mp4", 9.0),  # title slide, 3-15 s
    ("rocket_launch.mp4", 21.0),  # caption card, 18-25 s
    ("rocket_launch.mp4", 1.5),  # bumper, 0-3 s
]


@pytest.mark.parametrize(("name", "t"), CARDS)
def test_cards_read_their_ground_truth_text(reader: OcrReader, truth: dict, name: str, t: float) -> None:
    (_, frame), = decode_at(truth, name, [t])
    assert max(frame.shape[:2]) == OCR_SIDE
    shot = next(s for s in truth["videos"][name]["shots"] if s["start"] <= t < s["end"])
    lines = reader.read(frame)
    texts = [text for text, _, _ in lines]
    for expected in shot["on_screen_text"]:
        assert_reads(expected, texts)
    for _text, score, (x0, y0, x1, y1) in lines:
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
        assert 0.5 <= score <= 1.0


def test_title_reads_exactly_and_in_order(reader: OcrReader, truth: dict) -> None:
    (_, lecture), = decode_at(truth, "lecture.mp4", [9.0])
    (_, rocket), = decode_at(truth, "rocket_launch.mp4", [21.0])
    (_, coffee), = decode_at(truth, "coffee_portrait.mp4", [14.0])
    # Reading order: title above subtitle. Exact, spaces included (the space boost).
    assert [t for t, _, _ in reader.read(lecture)] == ["Sense and Sensibility", "Jane Austen"]
    assert [t for t, _, _ in reader.read(rocket)] == ["LAUNCH DAY", "Cape Canaveral, Florida"]
    assert [t for t, _, _ in reader.read(coffee)] == ["香浓咖啡", "每日新鲜烘焙"]


def test_photo_without_text_yields_nothing(reader: OcrReader, truth: dict) -> None:
    frames = decode_at(truth, "cat and yarn.mp4", [4.0, 8.0, 11.0])  # the cat photo, 3-12 s
    for _, frame in frames:
        assert reader.read(frame) == []
    assert reader.read_frames(frames) == []


def test_scene_frames_merge_into_one_line_each(reader: OcrReader, truth: dict) -> None:
    frames = decode_at(truth, "coffee_portrait.mp4", [11.0, 14.0, 17.0])
    lines = reader.read_frames(frames)
    assert [line.text for line in lines] == ["香浓咖啡", "每日新鲜烘焙"]
    first, last = frames[0][0], frames[-1][0]
    for line in lines:
        assert isinstance(line, OcrLine)
        assert (line.start, line.end) == (first, last)
        assert line.raw == line.text and line.score >= reader.min_score
    assert lines[0].box[3] <= lines[1].box[1]  # the name sits above the tagline


def test_promo_copy_is_cleaned_off_product_text(reader: OcrReader) -> None:
    from PIL import Image, ImageDraw, ImageFont

    skdata = pytest.importorskip("skimage.data")
    if not CJK_FONT.is_file():
        pytest.skip(f"{CJK_FONT} not installed")
    photo = Image.fromarray(skdata.coffee())  # 600x400 real photo
    draw = ImageDraw.Draw(photo)
    font = ImageFont.truetype(str(CJK_FONT), 36, index=2)  # Simplified Chinese face
    text = "限时优惠 香浓咖啡 点击购买"
    width = draw.textlength(text, font=font)
    draw.rectangle((0, 300, 600, 360), fill=(20, 20, 20))
    draw.text(((600 - width) / 2, 306), text, font=font, fill="white")
    frame = np.asarray(photo)

    lines = reader.read_frames([(2.0, frame)])
    assert [line.text for line in lines] == ["香浓咖啡"]
    # One box read as a whole (what PP-OCRv4 does here), or the promo words in boxes of their own.
    assert lines[0].raw.replace(" ", "") in ("限时优惠香浓咖啡点击购买", "香浓咖啡")
    assert lines[0].start == lines[0].end == 2.0
    assert 0.7 < lines[0].box[1] < lines[0].box[3] <= 0.95  # inside the band at y 300-360 of 400
    # Without cleaning the promo words stay.
    raw = reader.read_frames([(2.0, frame)], rules=CleaningRules.off())
    assert "限时优惠" in " ".join(line.text for line in raw)


class CannedReader(OcrReader):
    """``read_frames`` logic without the models: each frame is a list of canned readings."""

    def read(self, image):  # type: ignore[override]
        return list(image)


def test_read_frames_merges_filters_and_orders() -> None:
    reader = CannedReader(min_score=0.6)
    frames = [
        (3.0, [("每日新鲜烘焙", 0.90, (0.2, 0.5, 0.8, 0.6)), ("香浓咖啡", 0.95, (0.2, 0.3, 0.8, 0.4))]),
        (5.0, [
            ("香浓咖啡", 0.99, (0.21, 0.31, 0.79, 0.41)),  # better reading of the same line
            ("每日新鮮烘焙", 0.85, (0.2, 0.5, 0.8, 0.6)),  # near-identical (ratio 0.83): same line
            ("右", 0.8, (0.7, 0.1, 0.8, 0.15)),  # a single character at 0.8: noise
            ("限时优惠 点击购买", 0.97, (0.1, 0.8, 0.9, 0.9)),  # promo only: cleans to nothing
            ("模糊字", 0.4, (0.1, 0.9, 0.3, 0.95)),  # below min_score
            ("右上角", 0.9, (0.6, 0.1, 0.9, 0.15)),
            ("左上角", 0.9, (0.1, 0.11, 0.4, 0.16)),  # same row, left of 右上角
        ]),
        (4.0, [("香浓咖啡🔥🔥", 0.97, (0.2, 0.3, 0.8, 0.4))]),  # frames may come unsorted
    ]
    lines = reader.read_frames(frames)
    assert [line.text for line in lines] == ["左上角", "右上角", "香浓咖啡", "每日新鲜烘焙"]
    coffee = lines[2]
    assert (coffee.start, coffee.end, coffee.score) == (3.0, 5.0, 0.99)
    assert coffee.box == (0.21, 0.31, 0.79, 0.41)
    tagline = lines[3]
    assert (tagline.start, tagline.end, tagline.text) == (3.0, 5.0, "每日新鲜烘焙")
    assert (lines[0].start, lines[0].end) == (5.0, 5.0)


def test_single_cjk_character_kept_when_sure() -> None:
    reader = CannedReader(single_char_score=0.9)
    lines = reader.read_frames([(0.0, [("热", 0.97, (0.4, 0.4, 0.6, 0.6)), ("O", 0.99, (0.1, 0.1, 0.2, 0.2))])])
    assert [line.text for line in lines] == ["热"]


def test_space_boost_restores_spaces_between_latin_words_only() -> None:
    class Decode:  # the shape of RapidOCR's CTCLabelDecode: .character, greedy decoding
        character = ["blank", "A", "B", "一", "二", " "]

        def __call__(self, preds, *args, **kwargs):
            out = []
            for row in preds.argmax(axis=2):
                keep = [i for j, i in enumerate(row) if i and (j == 0 or i != row[j - 1])]
                out.append(("".join(self.character[i] for i in keep), 1.0))
            return out

    def probs(labels_and_space: list[tuple[int, float]]) -> np.ndarray:
        p = np.zeros((len(labels_and_space), 6), np.float32)
        for t, (label, space) in enumerate(labels_and_space):
            p[t, label] = 1.0 - space
            p[t, 5] = space
        return p

    boost = _SpaceBoost(Decode(), threshold=0.15)
    latin = probs([(1, 0.0), (0, 0.05), (0, 0.35), (0, 0.1), (2, 0.0)])  # "A", blanks, "B"
    cjk = probs([(3, 0.0), (0, 0.35), (4, 0.0)])
    faint = probs([(1, 0.0), (0, 0.1), (2, 0.0)])
    assert Decode()(latin[None])[0][0] == "AB"
    assert boost(latin[None])[0][0] == "A B"
    assert boost(cjk[None])[0][0] == "一二"  # never between CJK characters
    assert boost(faint[None])[0][0] == "AB"  # below the threshold


def test_bad_input_and_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = OcrReader()
    with pytest.raises(ValueError, match="RGB"):
        reader.read(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        reader.read(np.zeros((10, 10, 3), np.float32))
    assert reader.read(np.zeros((4, 4, 3), np.uint8)) == []  # too small to hold text

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    with pytest.raises(OcrUnavailable, match="pip install rapidocr-onnxruntime"):
        OcrReader()
