"""The calspike command: run, usage errors, exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import calspike
from calspike.cli import main


def test_run_on_the_default_simulated_data(capsys):
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "sim-OGB-1" in out and "sim-GCaMP6f" in out and "total" in out
    total = next(line for line in out.splitlines() if line.startswith("total")).split()
    expected = sum(len(calspike.partition(r)) for r in calspike.default_recordings(seed=0))
    assert int(total[3].replace(",", "")) == expected


def test_run_on_real_data_counts_the_tutorials_windows(spikefinder_dir, capsys):
    assert main(["run", "--data", str(spikefinder_dir)]) == 0
    out = capsys.readouterr().out
    assert "49,242" in out and "4.train" in out


def test_run_settings_reach_the_partition(tmp_path, capsys):
    np.save(tmp_path / "traces.npy", np.random.default_rng(0).standard_normal((3, 1_000)))
    assert main(["run", "--data", str(tmp_path / "traces.npy"), "--rate", "30", "--skip", "1",
                 "--len-pre", "5", "--len-post", "5", "--spike-n", "1", "--normalize", "neuron"]) == 0
    out = capsys.readouterr().out
    assert "2,970" in out and "n/a" in out  # 3 x (1000 - 10) windows, no spike labels


@pytest.mark.parametrize(
    "argv",
    [["run", "--skip", "0"], ["run", "--normalize", "zscore"], ["run", "--len-pre", "x"], ["bogus"], []],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_data_errors_exit_1_with_one_line(tmp_path, capsys):
    (tmp_path / "1.train.calcium.csv").write_text("0,1\n1,2\n3,oops\n")
    (tmp_path / "1.train.spikes.csv").write_text("0,1\n0,0\n0,0\n")
    assert main(["run", "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("calspike: error:") and "line 3, column '1'" in err and "\n" not in err
    assert main(["run", "--data", str(tmp_path / "missing")]) == 1
    assert main(["run", "--data", str(tmp_path), "--spike-n", "11"]) == 1
    with pytest.raises(ValueError, match="spike_n"):
        main(["--debug", "run", "--spike-n", "11"])


def test_the_installed_command_and_module_entry_points():
    script = shutil.which("calspike", path=os.path.dirname(sys.executable)) or shutil.which("calspike")
    assert script is not None, "the calspike command is not installed next to this Python"
    for command in ([script, "--version"], [sys.executable, "-m", "calspike", "--version"]):
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == f"calspike {calspike.__version__}"
    helptext = subprocess.run([script, "run", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--len-pre" in helptext and "default: 10" in helptext
