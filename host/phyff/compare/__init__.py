"""The method comparison: PhyLL against physics-aware training, backprop, an ELM and
ablations, on the same boards and seeds.
"""
