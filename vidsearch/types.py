"""Typed records that flow between pipeline stages.

Data flows one way: ``probe`` -> ``frames``/``scenes`` -> ``trim`` -> ``audio`` ->
``transcribe`` -> ``segments`` -> ``fusion`` -> ``store``. Each stage takes and returns
these dataclasses, so stages can be tested, timed and swapped one at a time.
Times are seconds from the start of the file (floats).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vidsearch.media.signature import VisualSignature

class VideoError(Exception):
    """A video that cannot be indexed; ``str()`` is one line naming file and reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Span:
    """A half-open time span [start, end) in seconds, with why it exists."""

    start: float
    end: float
    kind: str = ""  # e.g. "black-head", "silent-tail", "bumper-intro"

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says about a file."""

    path: Path
    duration: float
    width: int  # display width, after rotation
    height: int  # display height, after rotation
    fps: float  # average frame rate
    n_frames: int  # estimated from duration*fps when the container does not say
    rotation: int  # degrees, as stored in the stream's display matrix
    has_audio: bool
    video_codec: str
    pix_fmt: str
    audio_codec: str | None = None
    audio_sample_rate: int | None = None


@dataclass(frozen=True)
class Scene:
    """A shot between two cuts."""

    start: float
    end: float
    start_frame: int
    end_frame: int  # exclusive


@dataclass
class Keyframe:
    """A representative frame of a scene (small RGB image) and its sharpness."""

    time: float
    image: np.ndarray  # uint8 (h, w, 3) RGB
    sharpness: float


@dataclass
class AudioTrack:
    """Mono 16 kHz float32 samples."""

    samples: np.ndarray
    sample_rate: int = 16000

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass
class AudioAnalysis:
    """Frame-level audio description (hop = ``hop_s`` seconds)."""

    hop_s: float
    rms_db: np.ndarray  # loudness per hop
    voice_ratio: np.ndarray  # share of energy in the 300-3400 Hz voice band
    speech_prob: np.ndarray  # 0..1 speech-likeness per hop
    music_prob: np.ndarray  # 0..1 music-likeness per hop
    mel_db: np.ndarray  # (n_mels, n_hops) log-mel spectrogram

    def span_mask(self, start: float, end: float) -> slice:
        return slice(int(start / self.hop_s), max(int(start / self.hop_s) + 1, int(end / self.hop_s)))


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float = 1.0


#: Whisper's detection probability of a line's language under which the line counts as unsure
#: (:attr:`Utterance.language_unsure`): the audio fits none of the expected languages well.
#: Measured with Whisper base: English lines forced to German 0.005, the fixture's synthetic
#: Mandarin line forced to English 0.048, Japanese 0.034 to 0.040, French 0.003 or German 0.059
#: (gibberish; German when that line is detected on its own), while synthetic Mandarin
#: transcribed as Chinese came at 0.016 (poor, CER ~0.6), 0.079 and 0.093 (good) on the
#: benchmark, and clear English and real Mandarin above 0.4. The ranges touch: it is a hint.
LANGUAGE_FIT = 0.05


def _duration_weighted(pairs: list[tuple[Utterance, float | None]]) -> float | None:
    known = [(max(u.end - u.start, 0.01), v) for u, v in pairs if v is not None]
    if not known:
        return None
    total = sum(w for w, _ in known)
    return float(sum(w * v for w, v in known) / total)


def speech_logprob(utterances: list[Utterance]) -> float | None:
    """Duration-weighted mean ``avg_logprob`` of the utterances that have one (None if none do)."""
    return _duration_weighted([(u, u.avg_logprob) for u in utterances])


def speech_word_logprob(utterances: list[Utterance]) -> float | None:
    """Duration-weighted mean :attr:`Utterance.word_logprob` of the utterances that have one."""
    return _duration_weighted([(u, u.word_logprob) for u in utterances])


def said_within(word_start: float, word_end: float, start: float, end: float) -> bool:
    """Whether a word belongs to the span ``[start, end)``: by its midpoint, so a word cut by a
    segment border belongs to one side only (how segments share a line)."""
    return start <= (word_start + word_end) / 2 < end


#: A word's probability is floored here before its log is taken (one near-zero word must not
#: decide a whole line).
WORD_PROB_FLOOR = 1e-4


@dataclass
class Utterance:
    """One transcribed phrase (a Whisper segment) with its words.

    ``avg_logprob`` and ``no_speech_prob`` are Whisper's own confidence in the line (mean token
    log-probability; probability that the window held no speech); ``language_prob`` is Whisper's
    detection probability of ``language`` for the audio the line came from. None: unknown (data
    indexed before they were kept). A line whose language Whisper found unlikely was transcribed
    in an expected language that the audio does not fit well: see :attr:`language_unsure`.
    """

    text: str
    start: float
    end: float
    language: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    language_prob: float | None = None

    @property
    def word_logprob(self) -> float | None:
        """Mean log-probability of the line's words (None without words): Whisper's confidence in
        this line itself. ``avg_logprob`` belongs to the Whisper segment the line was cut from,
        often a whole 30 s window of several lines, so a garbled line and a clean one decoded
        together share it (benchmark: "So see and y'all keenly on van..." and "Welcome to the first
        lecture on printed circuit board design." both -0.39; their words' -0.82 and -0.05)."""
        if not self.words:
            return None
        return float(np.mean([math.log(max(w.probability, WORD_PROB_FLOOR)) for w in self.words]))

    def words_within(self, start: float, end: float) -> list[Word]:
        """The words said in ``[start, end)`` (:func:`said_within`)."""
        return [w for w in self.words if said_within(w.start, w.end, start, end)]

    @property
    def language_unsure(self) -> bool:
        """True when Whisper gave the line's language under :data:`LANGUAGE_FIT` (False if unknown)."""
        return self.language_prob is not None and self.language_prob < LANGUAGE_FIT


@dataclass
class Transcript:
    language: str | None
    utterances: list[Utterance] = field(default_factory=list)

    @property
    def words(self) -> list[Word]:
        return [w for u in self.utterances for w in u.words]

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances).strip()


@dataclass(frozen=True)
class OcrLine:
    """One line of on-screen text, read once per scene and kept with where it is visible."""

    text: str  # cleaned (promo noise, symbols and repeats removed): what is embedded and shown
    raw: str  # as read
    score: float  # recogniser confidence 0..1
    start: float  # first frame time it was read at
    end: float  # last frame time it was read at (a line seen on one frame has start == end)
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # x0, y0, x1, y1 as frame fractions


@dataclass
class Segment:
    """The unit of retrieval: a scene or a window of a long scene, with what it contains."""

    start: float
    end: float
    scene_index: int
    keyframes: list[Keyframe] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)
    ocr_text: str = ""
    ocr_lines: list[OcrLine] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: channel name -> L2-normalised vector (absent channel: missing key)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    thumbnail_jpeg: bytes | None = None

    @property
    def speech_text(self) -> str:
        return " ".join(u.text for u in self.utterances).strip()

    @property
    def speech_logprob(self) -> float | None:
        """Whisper's confidence in the speech here: the duration-weighted mean ``avg_logprob`` of
        the utterances (None without speech, or when no utterance has one)."""
        return speech_logprob(self.utterances)

    @property
    def speech_word_logprob(self) -> float | None:
        """Whisper's confidence in the lines here, word by word: the duration-weighted mean
        :attr:`Utterance.word_logprob` (None without words)."""
        return speech_word_logprob(self.utterances)


@dataclass
class Fingerprint:
    """Head/tail signatures used to find bumpers recurring across a library."""

    head_hashes: np.ndarray  # uint64 per sampled frame from t=head_start
    tail_hashes: np.ndarray  # uint64 per sampled frame, ending at the video's end
    hash_fps: float
    head_audio: np.ndarray  # uint32 audio fingerprint words (may be empty)
    tail_audio: np.ndarray
    audio_fps: float
    duration: float
    #: Mean luma (0..255) and sound level (dBFS, empty without audio) per sampled frame, in the
    #: order of the hashes: fades and silence at the edges. Empty in libraries built before them.
    head_luma: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    tail_luma: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    head_loud: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    tail_loud: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


@dataclass
class IndexedVideo:
    """Everything the per-video stage computes: a pure function of the file's content."""

    info: VideoInfo
    content_hash: str
    segments: list[Segment]
    removed: list[Span]  # per-video trims (black/frozen/silent heads and tails)
    scenes: list[Scene]
    transcript: Transcript
    fingerprint: Fingerprint | None
    ocr_lines: list[OcrLine] = field(default_factory=list)  # whole video, time order
    #: On-screen lines that cleaning emptied (promo badges, prices): only their ``raw`` reading is
    #: kept, for exact-word search; they never reach embeddings, captions or snippets.
    promo_lines: list[OcrLine] = field(default_factory=list)
    #: Sampled frame descriptors of the whole video (media.signature.VisualSignature): finds where a clip comes from.
    visual_signature: "VisualSignature | None" = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Moment:
    """A search hit: one segment or a merge of adjacent matching ones."""

    video: str
    video_id: int
    segment_id: int
    start: float
    end: float
    jump: float
    score: float
    channels: dict[str, float]
    snippet: str
    tags: list[str] = field(default_factory=list)
    ocr: list[dict] = field(default_factory=list)  # [{"text", "start", "end"}] visible in the moment
    #: For clip queries: "source" (the clip was cut from here) or "similar" (looks/sounds alike).
    match: str | None = None
    #: For text queries: "high", "medium" or "low" (see ``vidsearch.query.confidence``).
    confidence: str | None = None

    def to_json(self) -> dict:
        extra: dict[str, str] = {"match": self.match} if self.match else {}
        if self.confidence:
            extra["confidence"] = self.confidence
        return {
            "video": self.video,
            "video_id": self.video_id,
            "segment_id": self.segment_id,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "jump": round(self.jump, 3),
            "score": round(float(self.score), 6),
            "channels": {k: round(float(v), 6) for k, v in self.channels.items()},
            "snippet": self.snippet,
            "tags": list(self.tags),
            "ocr": [{"text": o["text"], "start": round(o["start"], 3), "end": round(o["end"], 3)} for o in self.ocr],
            **extra,
        }
