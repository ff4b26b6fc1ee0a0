"""Reading a library: text search, caption matching, match-clip, copy detection, and the
quality evaluation over a benchmark.
"""
