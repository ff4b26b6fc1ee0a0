"""The fused vector's channels: what each one is, registered once (:mod:`.registry`), their
layout, weights and presets (:mod:`.fusion`), and how on-screen text and tags become a channel's
text (:mod:`.visual`).
"""
