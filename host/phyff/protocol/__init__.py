"""The host/firmware boundary as Python sees it: the cffi module built from shared/, wire
records and fixed-point arrays.
"""
