"""Speech to text with faster-whisper: word timestamps, per-line language, Simplified Chinese.

How a track is transcribed (and why):

1. Silero VAD cuts it into speech chunks (tuned so a 1 s "Thank you" survives and lines ~1 s
   apart stay separate). In chunks our audio analysis calls music-only only confident words
   are kept: Whisper invents lyrics or "Thank you." on music, but very loud music can also
   hide real speech from the analysis, so such chunks are still transcribed.
2. Consecutive chunks are concatenated (0.2 s gaps) into groups that fit one 30 s window
   and each group is transcribed in one pass, so the Whisper encoder runs once per 30 s of
   *speech*, not once per line: that is what keeps indexing faster than real time on a CPU.
   Times are mapped back chunk by chunk; segments are split at chunk borders.
3. Whisper detects one language per window, but short videos mix languages line by line
   (a Mandarin product line, then an English one). Such a window makes the detection unsure
   (mixed zh/en fixture: 0.50; monolingual fixtures: >= 0.97), so below ``LANGUAGE_MIXED``
   every chunk is transcribed on its own with its own detection. In a confident window, a
   chunk whose words are unsure (mean probability < ``RECHECK_WORD_PROB``) or that produced
   nothing is re-transcribed on its own, and the better of the two is kept: the one on its own
   when it is heard as another expected language decisively (``LANGUAGE_DECISIVE`` times as
   likely as the window's, and fitting it), else the one whose words are surer. Forced into
   an English window's language a Mandarin line comes out as romanised gibberish whose words
   can be surer than its Chinese ("Swapiena Khushan Sorka" for 左边那棵深色的柏树); on the benchmark
   library (19 Mandarin lines, Whisper base, ``benchmarks/transcripts.py``) this takes Mandarin
   lines written in a non-Chinese script 3 -> 1 and their character error rate 0.616 -> 0.607,
   English lines unchanged.
4. Each window or line is transcribed in the likeliest of the library's *expected* languages
   (default Chinese and English) by Whisper's detection probabilities, however sure Whisper is
   of another one: on synthetic or accented Mandarin Whisper base guesses French, Latin or Thai
   (sometimes at > 0.5) and then writes gibberish in that language, while decoding as "zh" was
   measured at CER 0.25 (benchmark: Mandarin lines transcribed in a script other than Han,
   i.e. Thai, kana or Latin gibberish, 8 of 19 -> 4). The detection probability of the chosen
   language is kept with each line (``Utterance.language_prob``), so a line that fits none of
   the expected languages is known to be unsure. With no expected languages ("auto"),
   Whisper's own guess is used.
5. Chinese is normalised to Simplified (OpenCC t2s); hallucinated segments are dropped.
6. Decoding never samples. Whisper's usual fallback on a window that fails its checks (text
   that repeats itself, or a low log-probability) decodes it again at rising temperatures, by
   sampling; CTranslate2 keeps one sampler per worker thread, seeded once when the thread first
   samples, so the text of a hard line depended on what the process had transcribed before
   (the benchmark's Mandarin line over its coins came back as English gibberish alone and as
   nothing after the 17 other videos; a synthetic Mandarin line transcribed twice in a row came
   back two ways). Instead the audio of such a window (its group of chunks) is decoded again by
   beam search with no 3-token sequence repeated (``NO_REPEAT_NGRAM``), against the loops
   Whisper falls into on hard audio, and the better decoding by Whisper's own criteria is kept.
   The same audio now always gives the same text, in any process, thread or order. Benchmark (19
   synthetic Mandarin lines): character error rate 0.587 -> 0.544, lines heard as nothing 1 -> 0
   (a line romanised by the sampler, "Losia-chokia-cafe-dien-de-na-tie", now in Chinese
   characters); English word error rate 0.230 either way.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vidsearch.media.audio import analyse, music_spans, speech_music_spans, suppress_music
from vidsearch.models.resolve import resolve_whisper
from vidsearch.text.lexical import simplified_phrases
from vidsearch.text.script import has_han
from vidsearch.types import LANGUAGE_FIT, AudioAnalysis, AudioTrack, Span, Transcript, Utterance, Word

__all__ = ["Transcriber", "VAD_PARAMETERS", "MUSIC_SUPPRESSION_DEFAULT", "RECHECK_WORD_PROB", "WHISPER_LANGUAGES",
           "parse_languages"]

SAMPLE_RATE = 16000

#: Silero VAD settings. faster-whisper's defaults (2 s min silence) glue separate lines
#: together; these keep a 1 s "Thank you" and split at the ~1 s gaps between lines.
VAD_PARAMETERS: dict[str, float | int] = {
    "threshold": 0.4,
    "min_speech_duration_ms": 200,
    "min_silence_duration_ms": 600,
    "speech_pad_ms": 250,
}

#: What ``music_suppression="auto"`` does, following the measurement in
#: :func:`vidsearch.media.audio.suppress_music`: HPSS music suppression helped Whisper only where
#: music was as loud as the speech or louder, and hurt where speech was clearly on top
#: (including our 9 dB lecture fixture). So "auto" suppresses only where music is not clearly
#: under speech (see :meth:`Transcriber.music_dominated_spans`), before VAD. Measured WER
#: (librivox over music-on-hold, 5 lines per level), off -> auto: +10 dB 0.028 -> 0.028,
#: +5 dB 0.042 -> 0.042, 0 dB 0.169 -> 0.099, -5 dB 0.479 -> 0.239; lecture fixture 0 -> 0.
MUSIC_SUPPRESSION_DEFAULT = "dominant"
#: Mean speech probability below which a music chunk counts as music-dominated.
MUSIC_DOMINATES_SPEECH = 0.6

#: A chunk whose words average below this probability is re-transcribed on its own. Right
#: English lines of the benchmark average 0.8-0.98, garbled synthetic ones 0.6-0.7, Mandarin
#: lines forced into English 0.37-0.55 (at 0.5 one of those was missed).
RECHECK_WORD_PROB = 0.6
#: Minimum mean word probability for words in a chunk the analysis calls music-only.
MUSIC_CHUNK_MIN_WORD_PROB = 0.6
#: Whisper's checks of a window's decoding (faster-whisper's defaults): a compression ratio over
#: :data:`COMPRESSION_RATIO_MAX` is text that repeats itself, a mean token log-probability under
#: :data:`LOGPROB_MIN` is text Whisper doubts; both under :data:`NO_SPEECH_MIN` no-speech
#: probability is silence (faster-whisper drops the window).
COMPRESSION_RATIO_MAX, LOGPROB_MIN, NO_SPEECH_MIN = 2.4, -1.0, 0.6
#: A window failing those checks is decoded again with no repeated sequence of this many tokens.
#: Benchmark (19 Mandarin lines, ``benchmarks/transcripts.py``), instead of a temperature fallback:
#: character error rate 0.587 -> 0.544; 4 -> 0.581; a repetition penalty 1.2 alone -> 0.575.
NO_REPEAT_NGRAM = 3
#: A decoding that says one phrase (of at most ``LOOP_PHRASE_WORDS`` words, two characters or more)
#: this many times back to back loops, even where each of its segments is too short for the
#: compression check ("首先要坚量烂, 乖乖, 乖乖, 乖乖, 乖乖, 乖乖,", five segments): it is decoded again like a
#: failing window, and a decoding that loops counts as one that repeats itself. Benchmark:
#: Mandarin character error rate 0.544 -> 0.529 (that line: "首先要坚量烂, 乖乖, 乖要做坚持"), nothing
#: else changed. A chant or chorus sung four times over comes back shorter ("we will, we will,
#: rock you"): still found by its words.
LOOP_REPEATS = 4
LOOP_PHRASE_WORDS = 4
#: A rechecked line heard on its own as another expected language, at least this many times as
#: likely as its window's (and at least ``LANGUAGE_FIT``), is kept in that language whatever its
#: word probabilities.
LANGUAGE_DECISIVE = 2.0
#: Window language probability under which the window is treated as mixed-language.
LANGUAGE_MIXED = 0.8

#: The language codes Whisper knows (faster-whisper's list), for validating expected languages.
WHISPER_LANGUAGES: frozenset[str] = frozenset((
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr "
    "ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc "
    "pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh "
    "yue").split())


def parse_languages(value: str) -> tuple[str, ...]:
    """Expected languages from their text form ("zh,en"; "auto" or "" = any language Whisper
    knows, the empty tuple). Raises ValueError, one line naming the code, for an unknown one."""
    text = value.strip().lower()
    if text in ("", "auto"):
        return ()
    codes = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    for code in codes:
        if code not in WHISPER_LANGUAGES:
            raise ValueError(f"unknown language {code!r} in {value!r}: use Whisper's codes (e.g. zh, en, ja), "
                             "comma-separated, or 'auto'")
    return codes


_GAP_S = 0.2  # silence inserted between concatenated chunks
_WINDOW_S = 29.0  # speech packed into one Whisper window (30 s, minus a margin)
_ONLY_PUNCT = re.compile(r"^[\W_♪♫]*$", re.UNICODE)
_LOOP_WORD = re.compile(r"\w+")


def _loops(segments) -> bool:
    """Whether a decoding says one phrase :data:`LOOP_REPEATS` times or more back to back, across
    its segments ("乖乖, 乖乖, 乖乖, 乖乖"; "Shooka shooka shooka shooka"): Whisper's repetition loop.
    Words are runs of letters or of Chinese characters, compared in lower case."""
    words = [w.lower() for s in segments for w in _LOOP_WORD.findall(s.text)]
    for n in range(1, LOOP_PHRASE_WORDS + 1):
        for i in range(len(words) - n * LOOP_REPEATS + 1):
            unit = words[i:i + n]
            if sum(map(len, unit)) >= 2 and all(
                    words[i + k * n:i + (k + 1) * n] == unit for k in range(1, LOOP_REPEATS)):
                return True
    return False


def _fails(segment) -> bool:
    """Whether Whisper would retry the window this segment was decoded in (faster-whisper's
    temperature fallback rule): repeating itself, or doubtful text that is not silence."""
    doubtful = segment.avg_logprob < LOGPROB_MIN
    silence = segment.no_speech_prob > NO_SPEECH_MIN and doubtful
    return (segment.compression_ratio > COMPRESSION_RATIO_MAX or doubtful) and not silence


def _decoding_quality(segments) -> tuple[bool, float]:
    """How good a decoding is, as faster-whisper picks among its tries: text that does not repeat
    itself first, then the higher mean token log-probability; nothing at all is worst."""
    tokens = sum(len(s.tokens) for s in segments)
    if not tokens:
        return False, -np.inf
    return (all(s.compression_ratio <= COMPRESSION_RATIO_MAX for s in segments) and not _loops(segments),
            sum(s.avg_logprob * len(s.tokens) for s in segments) / tokens)


@dataclass
class _Chunk:
    start: float  # seconds in the track
    end: float
    offset: float = 0.0  # start in the concatenated audio
    music_only: bool = False  # our analysis hears music and no speech here
    pieces: list[Utterance] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def mean_word_prob(self) -> float:
        probs = [w.probability for u in self.pieces for w in u.words]
        return float(np.mean(probs)) if probs else 0.0


class Transcriber:
    """Whisper (faster-whisper, CTranslate2) transcriber; the model loads on first use.

    ``model``: None for the bundled Whisper base, or a faster-whisper name/path (see
    :func:`vidsearch.models.resolve.resolve_whisper`). ``music_suppression``: "auto" (= "dominant":
    suppress only where music is not clearly under the speech, where it measurably helped;
    see :data:`MUSIC_SUPPRESSION_DEFAULT`), "on" (in every music span) or "off".
    ``language`` forces one language (no detection); ``languages`` are the expected ones: each
    window or line gets the likeliest of them by Whisper's detection (empty: Whisper's own guess).
    ``beam_size`` 5: on the benchmark library's synthetic and accented speech greedy decoding
    garbles lines that beam search reads right ("split up the Toronto regions" for "split a
    picture into regions", "simple black saw tablet" for "simple blocks on a tablet"). Its 16
    spoken videos: character error rate 0.579 greedy, 0.518 beam 5; exact-speech queries'
    recall@10 0.868 -> 0.947. It costs about 20% more transcription time (their 516 s of
    audio: 44-47 s greedy, 54-56 s beam 5, 2 cores).
    ``cpu_threads`` 0 lets CTranslate2 choose.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        music_suppression: str = "auto",
        beam_size: int = 5,
        language: str | None = None,
        languages: Sequence[str] = ("zh", "en"),
        device: str = "cpu",
    ):
        if music_suppression not in ("auto", "on", "off", "dominant"):
            raise ValueError(
                f"music_suppression must be 'auto', 'dominant', 'on' or 'off', not {music_suppression!r}"
            )
        self.model_spec = model
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.music_suppression = music_suppression
        self.beam_size = beam_size
        self.language = language
        self.languages = tuple(languages)
        for code in self.languages:
            if code not in WHISPER_LANGUAGES:
                raise ValueError(f"unknown language {code!r}: use Whisper's codes (e.g. zh, en, ja)")
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading

    @property
    def model(self):
        """The loaded ``faster_whisper.WhisperModel`` (loaded on first access).

        Raises :class:`vidsearch.models.resolve.ModelUnavailable` when no model can be found offline.
        """
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from faster_whisper import WhisperModel

                    path = resolve_whisper(self.model_spec)
                    model = WhisperModel(
                        path, device=self.device, compute_type=self.compute_type, cpu_threads=self.cpu_threads
                    )
                    model.encode = self._cached_encoder(model.encode)
                    self._model = model
        return self._model

    @staticmethod
    def _cached_encoder(encode):
        """Wrap ``WhisperModel.encode`` with a one-entry cache keyed by the input's bytes.

        faster-whisper 1.2 encodes the first 30 s window twice when it detects the language
        (once to detect, once to decode); the encoder is most of the CPU time. Identical
        features give identical outputs, so reusing the last one is exact.
        """
        import hashlib

        last: dict[str, object] = {}

        def cached(features):
            arr = np.ascontiguousarray(features)
            key = hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest() + str(arr.shape)
            if last.get("key") != key:
                last["key"], last["out"] = key, encode(features)
            return last["out"]

        return cached

    @staticmethod
    def _simplified(text: str) -> str:
        return simplified_phrases(text)

    # ------------------------------------------------------------------ helpers

    def speech_chunks(self, samples: np.ndarray) -> list[_Chunk]:
        """Silero VAD speech chunks of a 16 kHz signal (seconds, padded), in order."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        stamps = get_speech_timestamps(samples, VadOptions(**VAD_PARAMETERS), sampling_rate=SAMPLE_RATE)
        return [_Chunk(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]

    def _suppression_mode(self) -> str:
        return MUSIC_SUPPRESSION_DEFAULT if self.music_suppression == "auto" else self.music_suppression

    @staticmethod
    def music_dominated_spans(analysis: AudioAnalysis) -> list[Span]:
        """Spans where music is not clearly under speech: "music" spans (speech may hide
        there, masked by loud music) and "speech+music" spans whose speech is weak."""
        out = []
        for s in speech_music_spans(analysis):
            if s.kind == "speech+music":
                sp = analysis.speech_prob[analysis.span_mask(s.start, s.end)]
                if len(sp) and float(np.mean(sp)) >= MUSIC_DOMINATES_SPEECH:
                    continue
            elif s.kind != "music":
                continue
            out.append(s)
        return out

    @staticmethod
    def _is_music_only(chunk: _Chunk, analysis: AudioAnalysis) -> bool:
        sl = analysis.span_mask(chunk.start, chunk.end)
        sp, mu = analysis.speech_prob[sl], analysis.music_prob[sl]
        if len(sp) == 0:
            return False
        return float(np.mean(sp >= 0.5)) < 0.2 and float(np.mean(mu)) > 0.5

    def _decode(self, audio: np.ndarray, language: str | None, no_repeat_ngram_size: int = 0):
        segments, info = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            temperature=0.0,  # no sampling: see the module docstring, 6.
            no_repeat_ngram_size=no_repeat_ngram_size,
            compression_ratio_threshold=COMPRESSION_RATIO_MAX,
            log_prob_threshold=LOGPROB_MIN,
            no_speech_threshold=NO_SPEECH_MIN,
            condition_on_previous_text=False,
            word_timestamps=True,
            vad_filter=False,  # chunks are already speech
        )
        return list(segments), info

    def _run(self, audio: np.ndarray, language: str | None):
        """Whisper's beam search over ``audio`` (a group of chunks, at most one 30 s window of
        speech, though Whisper may decode it in more than one window); where any of its segments
        fails Whisper's checks (:func:`_fails`) or it loops (:func:`_loops`), the whole audio is
        decoded again with no sequence of :data:`NO_REPEAT_NGRAM` tokens repeated, and the
        better of the two decodings as a whole is kept (:func:`_decoding_quality`): decodings of
        one audio are not cut into the same windows, so they are not compared window by window."""
        segments, info = self._decode(audio, language)
        if not any(_fails(s) for s in segments) and not _loops(segments):
            return segments, info
        again, info_again = self._decode(audio, language, no_repeat_ngram_size=NO_REPEAT_NGRAM)
        if _decoding_quality(again) > _decoding_quality(segments):
            return again, info_again
        return segments, info

    def _detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        """Whisper language detection on the first window, exactly as the decoder will see it.

        The window is cut like faster-whisper's decoder cuts it, so the cached encoder output
        is reused by the transcription that follows (one encoder pass instead of two).
        """
        from faster_whisper.audio import pad_or_trim

        m = self.model
        feats = m.feature_extractor(audio)
        content = feats.shape[-1] - 1
        window = pad_or_trim(feats[:, : min(content, m.feature_extractor.nb_max_frames)])
        enc = m.encode(window)
        ranked = [(tok[2:-2], float(p)) for tok, p in m.model.detect_language(enc)[0]]
        return ranked[0][0], ranked[0][1], ranked

    def _pick_language(self, lang: str, prob: float, ranked: list[tuple[str, float]]) -> tuple[str, float]:
        """The likeliest expected language and Whisper's probability of it (Whisper's own guess
        when any language is expected)."""
        if not self.languages or lang in self.languages:
            return lang, prob
        probs = dict(ranked)
        best = max(self.languages, key=lambda code: probs.get(code, 0.0))
        return best, probs.get(best, 0.0)

    def _transcribe(self, audio: np.ndarray):
        """Transcribe with language detection and the expected-language rule: (segments,
        language, its detection probability or None when forced, every language's detected
        probability, empty when forced)."""
        probs: dict[str, float] = {}
        if self.language:
            language, prob = self.language, None
        else:
            lang, first, ranked = self._detect_language(audio)
            language, prob = self._pick_language(lang, first, ranked)
            probs = dict(ranked)
        segments, _ = self._run(audio, language)
        return segments, language, prob, probs

    @staticmethod
    def _keep(seg) -> bool:
        text = seg.text.strip()
        if not text or _ONLY_PUNCT.match(text):
            return False
        # Whisper's own rule for invented text (no speech over 0.6 and log-probability under
        # -1.0) is applied by faster-whisper itself (passed in _decode). A stricter -0.8 here
        # dropped real lines 0-5 dB under music (no speech 0.7-0.9, -0.81 to -0.96); without it
        # the benchmark still has nothing heard where no line is spoken.
        return seg.compression_ratio <= COMPRESSION_RATIO_MAX and seg.avg_logprob >= -1.5

    def _pieces(self, segments, language: str, chunks: list[_Chunk], language_prob: float | None = None) -> None:
        """Split Whisper segments at chunk borders and attach them, in track time, to chunks;
        every piece keeps its segment's confidence."""
        offsets = np.array([c.offset for c in chunks])
        zh = language == "zh"
        for seg in segments:
            if not self._keep(seg):
                continue
            scores = dict(avg_logprob=float(seg.avg_logprob), no_speech_prob=float(seg.no_speech_prob),
                          language_prob=None if language_prob is None else round(float(language_prob), 4))
            by_chunk: dict[int, list] = {}
            for w in seg.words or []:
                mid = 0.5 * (w.start + w.end)
                i = int(np.clip(np.searchsorted(offsets, mid, side="right") - 1, 0, len(chunks) - 1))
                by_chunk.setdefault(i, []).append(w)
            if not by_chunk:  # no word timings: place the segment whole
                i = int(np.clip(np.searchsorted(offsets, seg.start, side="right") - 1, 0, len(chunks) - 1))
                c = chunks[i]
                text = self._simplified(seg.text.strip()) if zh or has_han(seg.text) else seg.text.strip()
                start = c.start + max(0.0, seg.start - c.offset)
                end = min(c.end, c.start + max(0.0, seg.end - c.offset))
                c.pieces.append(Utterance(text, round(float(start), 3), round(float(max(start, end)), 3), language, [], **scores))
                continue
            for i, ws in sorted(by_chunk.items()):
                c = chunks[i]
                words: list[Word] = []
                for w in ws:
                    token = w.word.strip()
                    if not token or _ONLY_PUNCT.match(token):
                        continue
                    if zh or has_han(token):
                        token = self._simplified(token)
                    start = min(c.end, c.start + max(0.0, w.start - c.offset))
                    end = min(c.end, c.start + max(0.0, w.end - c.offset))
                    words.append(Word(token, round(float(start), 3), round(float(max(start, end)), 3), float(w.probability)))
                if not words:
                    continue
                text = "".join(w.word for w in ws).strip()
                if zh or has_han(text):
                    text = self._simplified(text)
                c.pieces.append(Utterance(text, words[0].start, words[-1].end, language, words, **scores))

    @staticmethod
    def _groups(chunks: list[_Chunk]) -> list[list[_Chunk]]:
        """Pack consecutive chunks into groups that fit one 30 s Whisper window."""
        groups: list[list[_Chunk]] = []
        length = 0.0
        for c in chunks:
            if groups and length + c.duration + _GAP_S <= _WINDOW_S:
                groups[-1].append(c)
                length += c.duration + _GAP_S
            else:
                groups.append([c])
                length = c.duration + _GAP_S
        return groups

    def _transcribe_group(self, samples: np.ndarray, chunks: list[_Chunk]) -> None:
        """One Whisper pass over the group's concatenated chunks; per-chunk passes where
        the group mixes languages or a chunk came out unsure."""
        gap = np.zeros(int(_GAP_S * SAMPLE_RATE), dtype=np.float32)
        parts: list[np.ndarray] = []
        pos = 0.0
        for c in chunks:
            c.offset = pos
            piece = samples[int(c.start * SAMPLE_RATE): int(c.end * SAMPLE_RATE)]
            parts += [piece, gap]
            pos += (len(piece) + len(gap)) / SAMPLE_RATE
        audio = np.concatenate(parts)
        recheck = list(chunks)
        language: str | None
        language_prob: float | None = None
        if self.language:
            language = self.language
        else:
            lang, prob, ranked = self._detect_language(audio)
            # Lines in different languages make Whisper unsure about the window (mixed zh/en
            # fixture: 0.50; monolingual ones: >= 0.97): then every chunk gets its own pass
            # (unless only one language is expected: every chunk would get that one anyway).
            mixed = prob < LANGUAGE_MIXED and len(chunks) > 1 and len(self.languages) != 1
            language, language_prob = (None, None) if mixed else self._pick_language(lang, prob, ranked)
        if language is not None:
            segments, _ = self._run(audio, language)
            self._pieces(segments, language, chunks, language_prob)
            # Only unsure or empty chunks get a pass of their own (another language, skipped).
            recheck = [c for c in chunks if not c.pieces or c.mean_word_prob() < RECHECK_WORD_PROB]
        for c in recheck:
            if c.duration < 0.4:
                continue
            solo = _Chunk(c.start, c.end, offset=0.0)
            segs, lang, lang_prob, probs = self._transcribe(samples[int(c.start * SAMPLE_RATE): int(c.end * SAMPLE_RATE)])
            self._pieces(segs, lang, [solo], lang_prob)
            if not solo.pieces:
                continue
            # A line in another language than its window's, heard on its own, is decisively
            # that language (a Mandarin line in an English lecture: zh 0.23, en 0.05), yet
            # forced into the window's language it comes out as fluent gibberish whose word
            # probabilities can beat the right script's ("So see and y'all keenly on van").
            # Both can be negligible (audio Whisper hears as Thai): then the line is no more one
            # than the other, and only an expected language the audio fits may overrule. (With
            # no expected languages, "auto", any language Whisper hears may.)
            other_language = (language is not None and lang != language and lang_prob is not None
                              and lang_prob >= max(LANGUAGE_FIT, LANGUAGE_DECISIVE * probs.get(language, 0.0)))
            if not c.pieces or other_language or solo.mean_word_prob() > c.mean_word_prob():
                c.pieces = solo.pieces

    # ------------------------------------------------------------------ main

    def transcribe(self, track: AudioTrack | None, analysis: AudioAnalysis | None = None) -> Transcript:
        """Transcribe a 16 kHz mono track into utterances with timed words.

        Times are seconds of the track. ``None`` (no audio stream), silence or music alone
        give an empty transcript. ``analysis`` (from :func:`vidsearch.media.audio.analyse`) is
        computed when not given; it drops music-only VAD chunks and drives music suppression.
        """
        if track is None or len(track.samples) < SAMPLE_RATE // 10:
            return Transcript(language=None, utterances=[])
        samples = np.asarray(track.samples, dtype=np.float32)
        if track.sample_rate != SAMPLE_RATE:
            import librosa

            samples = librosa.resample(samples, orig_sr=track.sample_rate, target_sr=SAMPLE_RATE)
            track = AudioTrack(samples.astype(np.float32), SAMPLE_RATE)
            samples = track.samples
        if analysis is None:
            analysis = analyse(track)
        mode = self._suppression_mode()
        spans = music_spans(analysis) if mode == "on" else self.music_dominated_spans(analysis) if mode == "dominant" else []
        if spans:  # before VAD: loud music also hides speech from the VAD
            track = suppress_music(track, analysis, spans=spans)
            samples = track.samples
        chunks = self.speech_chunks(samples)
        if not chunks:
            return Transcript(language=None, utterances=[])
        for c in chunks:
            c.music_only = self._is_music_only(c, analysis)

        for group in self._groups(chunks):
            self._transcribe_group(samples, group)

        # Where the analysis hears only music, accept only confident words: Whisper invents
        # lyrics or "Thank you." on music, but loud music can also hide real speech from the
        # analysis (at -5 dB SNR), so such chunks are not skipped outright.
        utterances = [
            u for c in chunks for u in c.pieces
            if not c.music_only or c.mean_word_prob() >= MUSIC_CHUNK_MIN_WORD_PROB
        ]
        spoken: dict[str, float] = {}
        for u in utterances:
            spoken[u.language] = spoken.get(u.language, 0.0) + (u.end - u.start)
        main = max(spoken, key=lambda lang: spoken[lang]) if spoken else None
        return Transcript(language=main, utterances=utterances)
