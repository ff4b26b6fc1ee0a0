"""On-screen text: PP-OCRv4 (Chinese + English) through ``rapidocr-onnxruntime``, CPU only.

The detector and recogniser ONNX models ship inside the PyPI package, so this runs offline.
``OcrReader.read`` reads one frame; ``OcrReader.read_frames`` reads a few frames of one scene
and returns each line once, cleaned (``textclean``), with the first and last time it was seen.

Resolution and speed. Frames decoded as the pipeline does (PyAV + ``frames.frame_to_rgb``,
never upscaled): the fixture cards (640x360 title/caption cards, 720x1280 portrait product
card; 19 line readings on 9 frames) and rendered subtitles (48 px Chinese / 44 px English on
1920x1080 photos, 32 px on 1280x720, two 54 px lines on 1080x1920; 5 lines), INTER_AREA to
the longest side. Time is CPU ms per frame with one onnxruntime thread (process time: wall
time on the shared 2-core box swung 1-3x with the other jobs' load):

    longest side | cards exact | subtitles exact | ms/frame, text | ms/frame, no text (cat photo)
    -------------+-------------+-----------------+----------------+------------------------------
         320     | 16/19 (12)  | 2/5 (missed)    |      ~80       |   ~17
         480     | 18/19 (14)  | 5/5             |     ~105       |   ~35
         640     | 19/19 (15)  | 5/5             |     ~135       |   ~60-80
         960     | 19/19 (15)  | 5/5             |  ~220 (subs)   |   ~65 (cards: 640 native)
    RapidOCR defaults at 640 (det min side 736, cls on): ~480 ms with text, ~450 ms without.
    (n): without the space boost below — the errors are all glued words ("LAUNCHDAY").

320 px (the scene-detection size) is too small: subtitle-sized text (3-4 % of the frame
height) is 7-10 px tall there and the detector misses it. 480 px reads every subtitle but
still glues "Canaveral,Florida"; 640 px reads every line exactly, and above 640 the time
grows with the pixels while nothing improves. Hence ``OCR_SIDE = 640``.

RapidOCR parameters (the defaults cost ~400-500 ms on *every* frame, text or not):

* ``det_limit_type="max"``: the detector runs at the frame's own size. The default
  (``"min"``, 736) upscales the short side to 736 px — a 640x360 frame becomes 1309x736 —
  for no gain in accuracy on frames decoded at ``OCR_SIDE``. With ``"max"`` RapidOCR only
  shrinks frames above 960/1500/2000 px (its ``limit_side_len`` is then ignored).
* ``use_cls=False``: the 0/180 degree angle classifier costs a pass per line and only helps
  upside-down text, which video frames do not have (vertical CJK crops are still rotated).
* ``rec_batch_num=6`` (default): frames carry 1-5 lines, so the batch size hardly matters.
* arrays must be BGR: RapidOCR passes 3-channel arrays through unconverted (it only flips
  PIL images and files). Fed RGB, the orange "LAUNCH DAY" card reads "LAUNCHDAY".
* onnxruntime threads: ``threads`` (intra-op); on 2 busy cores 1 and 2 threads timed the same.
* a space boost on the CTC output (``_SpaceBoost``) restores the spaces PP-OCRv4 drops
  between Latin words; the cost is a few ms per frame.
"""
from __future__ import annotations

import difflib
import importlib.util
import logging
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vidsearch.models.resolve import Unavailable
from vidsearch.text.clean import CleaningRules, clean_text
from vidsearch.text.script import is_han
from vidsearch.types import OcrLine

__all__ = ["OCR_SIDE", "Box", "OcrLine", "OcrUnavailable", "OcrReader"]

#: Longest side (px) of the frames to OCR: see the module docstring for the measurements.
OCR_SIDE = 640

#: (x0, y0, x1, y1) as fractions 0..1 of the frame's width and height.
Box = tuple[float, float, float, float]

#: RapidOCR's own floor on recogniser confidence; ``read`` returns lines at or above it.
READ_FLOOR = 0.5


class OcrUnavailable(Unavailable):
    """``rapidocr-onnxruntime`` (or its bundled models) is not installed."""


_INSTALL_HINT = "on-screen text needs the bundled PP-OCRv4 models: pip install rapidocr-onnxruntime"


def _quiet_rapidocr_logging() -> None:
    # RapidOCR attaches DEBUG stream handlers to these loggers; keep its chatter out of our output.
    for name in ("RapidOCR", "OrtInferSession"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _key(text: str) -> str:
    """Comparison key: case, spaces and punctuation are what OCR gets wrong between frames."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


@dataclass
class _Group:
    """One line across frames while ``read_frames`` merges readings."""

    text: str
    raw: str
    score: float
    box: Box
    start: float
    end: float
    keys: list[str] = field(default_factory=list)


def _reading_order(groups: list[_Group]) -> list[_Group]:
    """Top-to-bottom rows, left-to-right within a row (a row: boxes whose vertical centre
    falls inside the first box of the row)."""
    rows: list[list[_Group]] = []
    for g in sorted(groups, key=lambda g: (g.box[1] + g.box[3]) / 2):
        centre = (g.box[1] + g.box[3]) / 2
        if rows and rows[-1][0].box[1] <= centre <= rows[-1][0].box[3]:
            rows[-1].append(g)
        else:
            rows.append([g])
    return [g for row in rows for g in sorted(row, key=lambda g: g.box[0])]


class _SpaceBoost:
    """Wraps RapidOCR's CTC decoder so that dropped spaces in Latin text come back.

    PP-OCRv4's recogniser often gives the space between two words only 0.2-0.5 probability,
    below the blank's, and greedy CTC decoding then glues the words ("LAUNCHDAY",
    "Canaveral,Florida" on the fixture cards, in 5 of 7 frames) — which splits them into the
    wrong sub-words for the text encoder. In each run of blanks between two ASCII characters,
    the step with the highest space probability becomes a space when that probability
    reaches ``threshold``. Inside words the space probability stays below 0.01 on the
    fixtures; on 136 rendered English lines (3 fonts x 3 sizes, 640 px) the boost changed
    22 readings, each by restoring a dropped space, and split no word. CJK text is never
    touched (no spaces between CJK characters).
    """

    def __init__(self, decode, threshold: float) -> None:
        self.decode = decode
        self.threshold = threshold
        chars = decode.character
        self.space = len(chars) - 1 if chars[-1] == " " else chars.index(" ")
        self.ascii = np.array([len(c) == 1 and c.isascii() and not c.isspace() for c in chars])
        self.ascii[0] = False  # the CTC blank

    def __call__(self, preds: np.ndarray, *args, **kwargs):
        preds = np.array(preds, copy=True)
        for b in range(preds.shape[0]):
            labels = preds[b].argmax(axis=1)
            chars = np.flatnonzero(labels != 0)
            for left, right in zip(chars[:-1], chars[1:]):
                if right - left < 2 or labels[left] == self.space or labels[right] == self.space:
                    continue
                if not (self.ascii[labels[left]] and self.ascii[labels[right]]):
                    continue
                gap = np.arange(left + 1, right)
                t = gap[np.argmax(preds[b, gap, self.space])]
                if preds[b, t, self.space] >= self.threshold:
                    preds[b, t, self.space] = preds[b, t].max() + 1e-6
        return self.decode(preds, *args, **kwargs)


class OcrReader:
    """PP-OCRv4 on CPU: read text lines from RGB frames.

    >>> reader = OcrReader(threads=2)
    >>> reader.read(frame_rgb)                      # doctest: +SKIP
    [('香浓咖啡', 0.999, (0.17, 0.42, 0.84, 0.51)), ('每日新鲜烘焙', 0.993, (0.22, 0.54, 0.78, 0.6))]
    >>> reader.read_frames([(11.0, f1), (14.0, f2), (17.0, f3)])   # doctest: +SKIP
    [OcrLine(text='香浓咖啡', raw='香浓咖啡', score=0.999, start=11.0, end=17.0, box=...), ...]

    The models load on first use (under a second); one reader may be shared between threads (calls
    are serialised: RapidOCR keeps per-call state on the engine).
    """

    def __init__(
        self,
        threads: int | None = None,
        *,
        min_score: float = 0.6,
        merge_ratio: float = 0.8,
        single_char_score: float = 0.9,
        use_cls: bool = False,
        rec_batch: int = 6,
        box_thresh: float = 0.5,
        max_side: int | None = None,
        space_boost: float | None = 0.15,
    ) -> None:
        """Configure the reader (nothing is loaded yet).

        ``threads``: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
        ``min_score``: ``read_frames`` drops lines the recogniser is less sure of.
        ``merge_ratio``: two readings are one line when their texts (case, spaces and
        punctuation ignored) match with a difflib ratio at or above this.
        ``single_char_score``: a line of a single character is usually noise (a texture read
        as "O" or "公"); a single CJK character is kept only at this confidence.
        ``use_cls``: run the 180-degree angle classifier (upside-down text only).
        ``rec_batch``: recogniser batch size. ``box_thresh``: detector box threshold.
        ``max_side``: downscale larger frames to this longest side first (None: as given;
        decode frames at ``OCR_SIDE`` instead, which is cheaper).
        ``space_boost``: restore spaces between Latin words the recogniser gives at least
        this probability (see ``_SpaceBoost``); None reads exactly as RapidOCR does.

        Raises ``OcrUnavailable`` when rapidocr-onnxruntime is not installed.
        """
        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            raise OcrUnavailable(_INSTALL_HINT)
        self.threads = threads
        self.min_score = float(min_score)
        self.merge_ratio = float(merge_ratio)
        self.single_char_score = float(single_char_score)
        self.use_cls = bool(use_cls)
        self.rec_batch = max(1, int(rec_batch))
        self.box_thresh = float(box_thresh)
        self.max_side = max_side
        self.space_boost = space_boost
        self._engine = None
        self._lock = threading.Lock()

    @property
    def engine(self):
        """The RapidOCR engine, loaded on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = self._load()
        return self._engine

    def _load(self):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise OcrUnavailable(f"{_INSTALL_HINT} ({exc})") from exc
        _quiet_rapidocr_logging()
        kwargs: dict = dict(
            use_cls=self.use_cls,
            text_score=READ_FLOOR,
            det_limit_type="max",
            det_box_thresh=self.box_thresh,
            rec_batch_num=self.rec_batch,
            cls_batch_num=self.rec_batch,
        )
        if self.threads is not None:
            kwargs.update(intra_op_num_threads=max(1, int(self.threads)), inter_op_num_threads=1)
        try:
            engine = RapidOCR(**kwargs)
        except (FileNotFoundError, OSError) as exc:
            raise OcrUnavailable(f"PP-OCRv4 models could not be loaded: {exc}") from exc
        _quiet_rapidocr_logging()
        decode = getattr(getattr(engine, "text_rec", None), "postprocess_op", None)
        if self.space_boost is not None and hasattr(decode, "character"):
            # Feature-detected: a RapidOCR with another layout just reads without the boost.
            engine.text_rec.postprocess_op = _SpaceBoost(decode, float(self.space_boost))
        return engine

    def _to_bgr(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise ValueError("expected a uint8 numpy image")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) RGB image, got shape {image.shape}")
        h, w = image.shape[:2]
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        # RapidOCR feeds arrays to the models as they are, and the models expect BGR.
        return np.ascontiguousarray(image[:, :, ::-1])

    def read(self, image: np.ndarray) -> list[tuple[str, float, Box]]:
        """Text lines of one uint8 RGB frame (or greyscale): ``(text, score, box)``.

        Raw readings (not cleaned), score >= ``READ_FLOOR``, in reading order; ``box`` is
        ``(x0, y0, x1, y1)`` as fractions of the frame. A frame without text gives ``[]``.
        """
        bgr = self._to_bgr(image)
        h, w = bgr.shape[:2]
        if h < 8 or w < 8:
            return []
        engine = self.engine
        with self._lock:
            result, _ = engine(bgr)
        lines: list[tuple[str, float, Box]] = []
        for points, text, score in result or []:
            pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            box = (
                float(np.clip(pts[:, 0].min() / w, 0, 1)), float(np.clip(pts[:, 1].min() / h, 0, 1)),
                float(np.clip(pts[:, 0].max() / w, 0, 1)), float(np.clip(pts[:, 1].max() / h, 0, 1)),
            )
            lines.append((str(text), float(score), box))
        order = _reading_order([_Group(t, t, s, b, 0.0, 0.0) for t, s, b in lines])
        return [(g.text, g.score, g.box) for g in order]

    def _is_noise(self, text: str, score: float) -> bool:
        core = [ch for ch in text if unicodedata.category(ch)[0] in "LN"]
        if not core:
            return True
        if len(core) == 1:
            return not (is_han(core[0]) and score >= self.single_char_score)
        return False

    def _same_line(self, key: str, group: _Group) -> bool:
        return any(key == k or difflib.SequenceMatcher(None, key, k).ratio() >= self.merge_ratio
                   for k in group.keys)

    def read_frames(
        self,
        frames: Sequence[tuple[float, np.ndarray]],
        rules: CleaningRules | None = None,
        promo: list[OcrLine] | None = None,
    ) -> list[OcrLine]:
        """OCR a few ``(time, rgb)`` frames of ONE scene and return each line once.

        Readings are cleaned with ``rules`` (default: ``textclean.load_rules()``); lines
        below ``min_score``, lines that clean to nothing and single-character noise are
        dropped. Readings of the same line on several frames (same text after
        normalisation, or a difflib ratio >= ``merge_ratio``) merge into one ``OcrLine``
        holding the most confident reading and the first/last time it was read. Lines come
        in reading order (top-to-bottom, left-to-right).

        ``promo``, when given, receives the lines that cleaning emptied (a promo badge, a price
        sticker) as ``OcrLine`` with empty ``text`` and the reading in ``raw``, merged across
        frames the same way: kept out of everything embedded, but findable by their words.
        """
        groups: list[_Group] = []
        emptied: list[_Group] = []
        for t, image in sorted(frames, key=lambda f: f[0]):
            t = float(t)
            for raw, score, box in self.read(image):
                if score < self.min_score:
                    continue
                text = clean_text(raw, rules)
                if not text and promo is not None and not self._is_noise(raw, score):
                    self._merge_reading(emptied, "", raw, score, box, t)
                if not text or self._is_noise(text, score):
                    continue
                self._merge_reading(groups, text, raw, score, box, t)
        if promo is not None:
            promo.extend(OcrLine("", g.raw, g.score, g.start, g.end, g.box) for g in _reading_order(emptied))
        return [OcrLine(g.text, g.raw, g.score, g.start, g.end, g.box) for g in _reading_order(groups)]

    def _merge_reading(self, groups: list[_Group], text: str, raw: str, score: float, box: Box, t: float) -> None:
        """Add one reading to ``groups``: a new line, or the same line seen again (its time span
        grows, the most confident reading wins). Lines are compared by their cleaned text, or by
        the raw reading for a line that cleaning emptied."""
        key = _key(text or raw)
        match = next((g for g in groups if self._same_line(key, g)), None)
        if match is None:
            groups.append(_Group(text, raw, score, box, t, t, [key]))
            return
        match.start, match.end = min(match.start, t), max(match.end, t)
        if key not in match.keys:
            match.keys.append(key)
        if score > match.score:
            match.text, match.raw, match.score, match.box = text, raw, score, box
