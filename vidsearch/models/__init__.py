"""The models: one module per family (Whisper, CLIP, the tagger, OCR, the text encoders) and the
resolution of which weights a name means (:mod:`vidsearch.models.resolve`), shared by the loaders and ``doctor``.
"""
