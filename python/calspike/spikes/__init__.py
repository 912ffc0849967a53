"""The inference wing: spike rates, inference on files, scoring against ground truth.

Spike rates for every frame of every neuron (the rate model, its training, OASIS). It imports
the foundation only, never the tutorial wing.
"""
