"""The models' own sizes and weights, declared like every other setting.

No command takes these as options: the Python API takes them (`SpikeClassifier(hidden=...)`)
and checkpoints carry them. Both are checked here before a model allocates anything, so a
checkpoint whose config asks for a billion units is refused, not obeyed.
"""

from __future__ import annotations

from calspike.config.setting import MAX_SIDE, RATE_RANGE_HZ, Setting, check_rate

MODEL_SETTINGS = (
    Setting("input_channels", int, 1, "feature channels of a window model's input", "", 1, 64),
    Setting("layers", int, 1, "LSTM layers of a window model", "", 1, 16),
    Setting(
        "dropout", float, 0.0, "dropout between LSTM layers and before the head", "", 0.0, 0.95
    ),
    Setting("length", int, 20, "frames of a window model's windows", "frames", 1, 2 * MAX_SIDE),
    Setting("classes", int, 10, "classes of the toy VAE's one-hot inputs", "", 1, 4096),
    Setting("dilation", int, 1, "dilation of a spike-rate model's convolution", "", 1, 1024),
    Setting(
        "model_rate",
        float,
        25.0,
        "output frame rate of the spike-rate model",
        "Hz",
        RATE_RANGE_HZ[0],
        RATE_RANGE_HZ[1],
        checker=lambda value, name: check_rate(value, name),
    ),
    Setting(
        "smooth",
        float,
        0.0,
        "standard deviation of the Gaussian that smooths the rate model's target counts",
        "frames",
        0.0,
        1000.0,
    ),
    Setting(
        "correlation_weight",
        float,
        5.0,
        "weight of the rate model's correlation term",
        "",
        0.0,
        1e6,
    ),
    Setting(
        "noise", float, 1.0, "noise the rate model's training adds, in noise levels", "", 0.0, 100.0
    ),
    Setting(
        "gain", float, 1.5, "largest amplitude gain of the rate model's training", "", 1.0, 100.0
    ),
)
