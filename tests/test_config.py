"""Settings are declared once and checked the same way everywhere."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from calspike import config
from calspike.cli.options import add_arguments


def test_check_converts_and_names_bad_values():
    assert config.check({"skip": np.int64(3), "normalize": "neuron"}) == {
        "skip": 3,
        "normalize": "neuron",
    }
    with pytest.raises(ValueError, match=r"skip must be in \[1, "):
        config.check({"skip": 0})
    with pytest.raises(ValueError, match="len_pre must be an integer"):
        config.check({"len_pre": True})
    with pytest.raises(ValueError, match="normalize must be one of"):
        config.check({"normalize": "z"})
    with pytest.raises(KeyError):
        config.check({"nonsense": 1})


def test_every_setting_documents_itself_and_has_a_valid_default():
    for setting in config.SETTINGS.values():
        assert setting.help and "default" in setting.describe()
        assert setting.check(setting.default) == setting.default


def test_add_arguments_builds_checked_options():
    parser = argparse.ArgumentParser()
    add_arguments(parser, ["skip", "normalize"])
    assert parser.parse_args(["--skip", "4"]).skip == 4
    assert parser.parse_args([]).normalize == "window"
    with pytest.raises(SystemExit):
        parser.parse_args(["--skip", "-1"])


def test_the_api_defaults_are_the_schemas():
    """The Python entry points and the CLI share one set of defaults: calspike.config's."""
    import inspect

    from calspike.spikes.files import infer
    from calspike.spikes.rate_training import train_rate_model

    for function, names, profile in (
        (infer, config.INFER_SETTINGS, ()),
        (train_rate_model, config.TRAIN_RATE_SETTINGS, ("train-rate",)),
    ):
        expected = config.defaults(names, *profile)
        parameters = inspect.signature(function).parameters
        for name in names:
            if name in parameters:
                assert parameters[name].default == expected[name], f"{function.__name__}({name})"
    assert config.defaults(["epochs"], "train-rate") == {"epochs": 30}


def test_every_commands_settings_are_declared_and_validated_the_same_way():
    from calspike.cli.dispatch import calspike_parser as _parser

    parser = _parser()
    for command, names in config.COMMANDS.items():
        assert set(names) <= set(config.SETTINGS), command
    for argv in (
        ["infer", "x.npy", "-o", "y.npy", "--rate", "-5"],
        ["prepare", "-o", "w.npz", "--rate", "-5"],
        ["run", "--rate", "-5"],
        ["train-rate", "d", "-o", "m.pt", "--rate", "-5"],
        ["score", "t", "p", "--rate", "-5"],
    ):
        with pytest.raises(SystemExit) as stopped:
            parser.parse_args(argv)
        assert stopped.value.code == 2, argv


@pytest.mark.parametrize("validation", [0.97, -0.1])
def test_train_rate_model_takes_validation_s_one_range_from_the_schema(validation):
    import calspike
    from calspike.spikes.rate_training import train_rate_model

    with pytest.raises(ValueError, match=r"validation must be .*0\.95"):
        train_rate_model(
            [calspike.simulate(2, 600, 30.0, seed=0)],
            validation=validation,
            epochs=1,
            progress=False,
        )
