"""Drive/sense hardware per MicroPython port (rp2, esp32, stm32)."""
