"""A training session around the PhyLL model: the epoch loop with hooks, its configuration,
checkpoints, run files and plots.
"""
