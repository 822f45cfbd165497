"""phyff board program for MicroPython: the C firmware's protocol level, in Python.

Modules: ``wire`` (constants, CRC-16, COBS, frames), ``core`` (the board:
reassembly, dispatch, the five commands), ``link`` (USB stdio or UART),
``app`` (the main loop), ``ports`` (drive/sense hardware per board).
"""
