"""The inference wing: spike rates for every frame of every neuron (the rate model, its
training, OASIS), inference on files, and scoring against ground truth. It imports the
foundation only, never the tutorial wing."""
