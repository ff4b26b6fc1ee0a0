"""Scenes and keyframes: PySceneDetect's AdaptiveDetector fed with the downscaled frame stream.

We drive the detector frame by frame (instead of letting PySceneDetect open the file) so the
single decode in ``frames`` serves every visual stage.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scenedetect import AdaptiveDetector
from scenedetect.common import FrameTimecode

from vidsearch.media.frames import DecodedFrame, decode_jpeg, dhash, encode_jpeg, hamming, sharpness
from vidsearch.media.scene_config import SceneConfig
from vidsearch.types import Keyframe, Scene


class SceneCutter:
    """Feed frames in order; ``scenes()`` returns the shots between the detected hard cuts."""

    def __init__(self, fps: float, config: SceneConfig | None = None):
        self.config = config or SceneConfig()
        self.fps = fps
        self._detector = AdaptiveDetector(
            adaptive_threshold=self.config.adaptive_threshold,
            min_scene_len=max(1, int(round(self.config.min_scene_len_s * fps))),
            window_width=self.config.window_width,
            min_content_val=self.config.min_content_val,
        )
        self._times: list[float] = []
        self._cut_frames: list[int] = []

    def feed(self, frame: DecodedFrame) -> None:
        self._times.append(frame.time)
        # Hard cuts show at any size: half the analysis size quarters the detector's cost.
        h, w = frame.rgb.shape[:2]
        small = cv2.resize(frame.rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        # Frame numbers, not seconds, keep the detector exact under variable frame rate;
        # we map numbers back to presentation times ourselves.
        for cut in self._detector.process_frame(FrameTimecode(frame.index, self.fps), bgr):
            self._cut_frames.append(int(cut.frame_num))

    def scenes(self, duration: float) -> list[Scene]:
        if not self._times:
            return []
        for cut in self._detector.post_process(FrameTimecode(len(self._times), self.fps)) or []:
            self._cut_frames.append(int(cut.frame_num))
        n = len(self._times)
        cuts = sorted({c for c in self._cut_frames if 0 < c < n})
        bounds = [0, *cuts, n]
        times = self._times + [max(duration, self._times[-1] + 1.0 / self.fps)]
        return [
            Scene(start=times[a] if a else 0.0, end=times[b], start_frame=a, end_frame=b)
            for a, b in zip(bounds[:-1], bounds[1:])
            if b > a
        ]


@dataclass
class FrameSampler:
    """Keeps a few frames per second (with sharpness and hash) as keyframe candidates.

    Candidates are held as JPEG (~15 kB instead of 170 kB raw), so an hour-long lecture costs
    about 100 MB rather than over a gigabyte; only the chosen keyframes are decoded again.
    """

    sample_fps: float = 2.0
    frames: list[tuple[float, bytes, float, int]] = field(default_factory=list)
    #: (time, JPEG, hash) of the larger frames the decoder hands over for on-screen text.
    details: list[tuple[float, bytes, int]] = field(default_factory=list)
    _next_t: float = 0.0

    def feed(self, frame: DecodedFrame) -> None:
        if frame.detail is not None:
            self.details.append((frame.time, encode_jpeg(frame.detail, quality=90), dhash(frame.detail)))
        if frame.time + 1e-6 < self._next_t:
            return
        self._next_t = frame.time + 1.0 / self.sample_fps
        self.frames.append((frame.time, encode_jpeg(frame.rgb, quality=90), sharpness(frame.rgb), dhash(frame.rgb)))


def _in_span(samples: list, start: float, end: float) -> list:
    """Samples (time first) inside ``[start, end)``, away from its edges (cut transitions,
    encoder blur) unless the span is too short to leave anything."""
    margin = min(0.2, (end - start) / 4)
    inside = [f for f in samples if start + margin <= f[0] < end - margin]
    return inside or [f for f in samples if start <= f[0] < end]


def pick_keyframes(
    sampler: FrameSampler,
    start: float,
    end: float,
    *,
    seconds_per_keyframe: float = 5.0,
    max_keyframes: int = 4,
    min_hash_distance: int = 8,
) -> list[Keyframe]:
    """1..n sharp, non-duplicate frames of the span ``[start, end)``.

    The span is cut into n equal parts (n grows with its length); each part gives its sharpest
    frame, skipping frames whose hash is within ``min_hash_distance`` bits of one already chosen.
    Frames right at the span's edges are avoided (cut transitions, encoder blur).
    """
    inside = _in_span(sampler.frames, start, end)
    if not inside:
        # Very short span between two samples: take the nearest sample.
        if not sampler.frames:
            return []
        mid = (start + end) / 2
        inside = [min(sampler.frames, key=lambda f: abs(f[0] - mid))]
    n = int(np.clip(np.ceil((end - start) / seconds_per_keyframe), 1, max_keyframes))
    parts = np.array_split(np.arange(len(inside)), n)
    chosen: list[tuple[float, bytes, float, int]] = []
    for part in parts:
        for i in sorted(part, key=lambda i: -inside[i][2]):
            cand = inside[i]
            if all(hamming(cand[3], c[3]) >= min_hash_distance for c in chosen):
                chosen.append(cand)
                break
    return [Keyframe(time=t, image=decode_jpeg(jpeg), sharpness=s) for t, jpeg, s, _ in chosen]


def pick_text_frames(
    sampler: FrameSampler,
    start: float,
    end: float,
    *,
    seconds_per_frame: float = 6.0,
    max_frames: int = 4,
    min_hash_distance: int = 4,
) -> list[tuple[float, np.ndarray]]:
    """The larger frames of ``[start, end)`` worth reading text from, as (time, RGB).

    A few per scene, spread over it (captions change within a scene), skipping frames that look
    the same as one already picked: a static card is read once.
    """
    inside = _in_span(sampler.details, start, end)
    if not inside:
        return []
    n = int(np.clip(np.ceil((end - start) / seconds_per_frame), 1, max_frames))
    # The middle of each part: away from fades at the scene's edges.
    picks = [part[len(part) // 2] for part in np.array_split(np.arange(len(inside)), n) if len(part)]
    chosen: list[tuple[float, bytes, int]] = []
    for i in picks:
        cand = inside[i]
        if all(hamming(cand[2], c[2]) >= min_hash_distance for c in chosen):
            chosen.append(cand)
    return [(t, decode_jpeg(jpeg)) for t, jpeg, _ in chosen]
