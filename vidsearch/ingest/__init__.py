"""From files to library rows: the per-video processor, segments, runners (in-process, process
pool, Ray), the change planner and the writers behind ``index`` and ``reindex``.
"""
