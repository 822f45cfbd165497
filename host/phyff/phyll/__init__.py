"""The PhyLL algorithm: blocks, encoders, goodness, local loss, optimiser, inference, work
accounting. Knows nothing of boards or files.
"""
