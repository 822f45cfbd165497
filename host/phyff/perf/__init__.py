"""Speed figures: every benchmark that prints throughput or time (native kernels, boards,
firmware, media, trainer).
"""
