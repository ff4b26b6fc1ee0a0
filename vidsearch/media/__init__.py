"""Decoding and measuring a video file: probe, frames, scenes, audio, trimming, the visual signature.

No models here beyond signal processing; imports only :mod:`vidsearch.types`.
"""
