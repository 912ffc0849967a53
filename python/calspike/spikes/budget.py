"""How many neurons inference takes at once: a working-memory budget per chunk of neurons.

Torch-free, so that file inference with OASIS can size its chunks without importing the model.
"""

from __future__ import annotations

WORKING_BYTES = 256 << 20  # per chunk of neurons: bounds memory for long recordings too
BYTES_PER_FRAME = 32  # working bytes per input frame and neuron (copies, gap mask, counts, outputs)
BYTES_PER_MODEL_FRAME = 16  # and per frame at the model's input rate (resampled, normalised, padded)


def neurons_per_chunk(frames: int, rate: float, input_rate: float, most: int, budget: int = WORKING_BYTES) -> int:
    """Neurons of `frames` frames at `rate` Hz whose working memory fits `budget` bytes.

    When the method works at `input_rate` Hz (upsampling costs more); at least 1, at most `most`.
    """
    per_neuron = max(1, frames) * (BYTES_PER_FRAME + BYTES_PER_MODEL_FRAME * input_rate / rate)
    return int(max(1, min(most, budget // per_neuron)))
