"""The expected time each step of `calspike run` announces."""

from __future__ import annotations

import pytest

from calspike.tutorial.timing import REFERENCE_S, StepClock, bytes_in, say_duration


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.5, "under a second"),
        (1.0, "about 1 s"),
        (9.96, "about 10 s"),
        (15, "about 20 s"),
        (59.6, "about 60 s"),
        (89, "about 90 s"),
        (95, "about 1.5 min"),
        (150, "about 2.5 min"),
        (3599, "about 1 h"),
        (5400, "about 1.5 h"),
        (float("nan"), "unknown"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds, said):
    assert say_duration(seconds) == said


def test_the_classifier_s_real_speed_rescales_only_the_later_steps():
    clock = StepClock()
    expected = clock.expect("classifier", 46_982 * 15)
    assert expected == pytest.approx(19.5)  # the default run's classifier, as measured
    clock.calibrate(expected, 3 * expected)  # this machine is 3 times slower
    assert clock.expect("vae", 1000) == pytest.approx(3 * REFERENCE_S["vae"] * 1000)
    assert clock.expect("read", 1000) == pytest.approx(REFERENCE_S["read"] * 1000)  # not rescaled
    clock.calibrate(1.0, 1e6)  # one odd measurement cannot make estimates absurd
    assert clock.speed == 20.0
    clock.calibrate(0.0, 5.0)  # nothing expected: nothing learned
    assert clock.speed == 20.0


def test_bytes_in_a_file_or_a_folder_at_any_depth(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.csv").write_bytes(b"x" * 5)
    assert bytes_in(tmp_path) == 15 and bytes_in(tmp_path / "a.csv") == 10
