"""Settings are declared once and checked the same way everywhere."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from calspike import config


def test_check_converts_and_names_bad_values():
    assert config.check({"skip": np.int64(3), "normalize": "neuron"}) == {"skip": 3, "normalize": "neuron"}
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
    config.add_arguments(parser, ["skip", "normalize"])
    assert parser.parse_args(["--skip", "4"]).skip == 4
    assert parser.parse_args([]).normalize == "window"
    with pytest.raises(SystemExit):
        parser.parse_args(["--skip", "-1"])
