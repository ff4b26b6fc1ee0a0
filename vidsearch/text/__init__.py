"""Text handling shared by every stage: script detection, cleaning, synonyms, label names.
"""
