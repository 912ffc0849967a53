"""The user's files: nothing calspike did not write is replaced or deleted, no output lands on an
input, nothing from a data file runs, and every output appears whole or not at all.

End-to-end through the CLI in temporary folders, as a user would meet each case.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import calspike
from calspike import _core, _io, _targets
from calspike.cli import main
from calspike.data import DataError
from calspike.spikes.score import score_files
from calspike.training import load_checkpoint, save_checkpoint

SMALL_RUN = [
    "--quick",
    "--epochs",
    "1",
    "--vae-epochs",
    "1",
    "--max-windows",
    "2000",
    "--no-progress",
]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI expecting exit 2 (a usage error, found before any work); returns stderr."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.fixture()
def spikefinder_data(tmp_path: Path) -> Path:
    """A user's SpikeFinder folder with ground truth and an unrelated notes file."""
    folder = tmp_path / "mydata"
    folder.mkdir()
    for dataset, seed in ((1, 1), (2, 2)):
        recording = calspike.simulate(6, 3_000, 100.0, seed=seed)
        columns = [str(i) for i in range(recording.neurons)]
        pd.DataFrame(recording.calcium.T, columns=columns).to_csv(
            folder / f"{dataset}.train.calcium.csv", index=False
        )
        pd.DataFrame(recording.spikes.T, columns=columns).to_csv(
            folder / f"{dataset}.train.spikes.csv", index=False
        )
    (folder / "notes.txt").write_text("my lab notes")
    return folder


# 1. `run -o` never replaces a folder calspike did not write, nor one holding or inside its input.
def test_run_refuses_to_replace_the_users_folders(spikefinder_data, tmp_path, capsys, monkeypatch):
    before = _snapshot(spikefinder_data)
    err = _usage_error(
        ["run", "--data", str(spikefinder_data), "-o", str(spikefinder_data), *SMALL_RUN], capsys
    )
    assert "did not write" in err or "is the input" in err
    err = _usage_error(
        ["run", "--data", str(spikefinder_data), "-o", str(tmp_path), *SMALL_RUN], capsys
    )
    assert "did not write" in err or "contains the input" in err
    err = _usage_error(
        [
            "run",
            "--data",
            str(spikefinder_data),
            "-o",
            str(spikefinder_data / "report"),
            *SMALL_RUN,
        ],
        capsys,
    )
    assert "lies inside the input folder" in err
    mine = tmp_path / "my-results"
    mine.mkdir()
    (mine / "figure.svg").write_text("<svg/>")
    assert "did not write" in _usage_error(["run", "-o", str(mine), *SMALL_RUN], capsys)
    monkeypatch.chdir(mine)
    assert "is the working folder" in _usage_error(["run", "-o", ".", *SMALL_RUN], capsys)
    assert _snapshot(spikefinder_data) == before and (mine / "figure.svg").read_text() == "<svg/>"


def test_run_replaces_its_own_report_and_accepts_an_empty_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", "-o", str(empty), *SMALL_RUN]) == 0
    assert (empty / _targets.MARKER).is_file() and (empty / "index.html").is_file()
    first = (empty / "metrics.json").read_text()
    assert (
        main(["run", "-o", str(empty), "--seed", "1", *SMALL_RUN]) == 0
    )  # its own report: replaced
    assert (empty / "metrics.json").read_text() != first
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]  # no leftovers beside it


# 2. `infer -o` never resolves to an input file or folder (symbolic links followed).
def test_infer_refuses_outputs_that_are_its_inputs(spikefinder_data, tmp_path, capsys):
    before = _snapshot(spikefinder_data)
    traces = tmp_path / "x.npy"
    np.save(traces, calspike.simulate(3, 2_000, 30.0, seed=0).calcium)
    array_before = traces.read_bytes()
    assert "is the input" in _usage_error(
        ["infer", str(traces), "-o", str(traces), "--rate", "30"], capsys
    )
    link = tmp_path / "link.npy"
    link.symlink_to(traces)
    assert "is the input" in _usage_error(
        ["infer", str(traces), "-o", str(link), "--rate", "30"], capsys
    )
    csv = spikefinder_data / "1.train.calcium.csv"
    assert "is the input" in _usage_error(["infer", str(csv), "-o", str(csv)], capsys)
    truth = spikefinder_data / "1.train.spikes.csv"  # the ground truth of that input
    assert "is the input" in _usage_error(["infer", str(csv), "-o", str(truth)], capsys)
    assert "is the input" in _usage_error(
        ["infer", str(spikefinder_data), "-o", str(spikefinder_data)], capsys
    )
    assert "lies inside" in _usage_error(
        ["infer", str(spikefinder_data), "-o", str(spikefinder_data / "p")], capsys
    )
    stranger = tmp_path / "stranger.npy"
    np.save(stranger, np.zeros(3))
    assert "did not write" in _usage_error(
        ["infer", str(traces), "-o", str(stranger), "--rate", "30"], capsys
    )
    assert _snapshot(spikefinder_data) == before and traces.read_bytes() == array_before
    assert np.load(stranger).shape == (3,)


def test_a_later_score_cannot_report_r_1_against_overwritten_truth(
    spikefinder_data, tmp_path, capsys
):
    predictions = tmp_path / "predictions"
    assert main(["infer", str(spikefinder_data), "-o", str(predictions), "--method", "oasis"]) == 0
    rows = score_files(spikefinder_data, [predictions])
    assert all(
        row.correlation < 0.99 for row in rows
    )  # ground truth intact: not scored against itself
    assert (
        main(["infer", str(spikefinder_data), "-o", str(predictions), "--method", "oasis"]) == 0
    )  # its own


# 3. suite2p's ops.npy is a pickle: only plain data is admitted, nothing in it runs.
def test_a_crafted_ops_npy_runs_no_code(tmp_path, capsys):
    plane = tmp_path / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    recording = calspike.simulate(3, 2_000, 30.0, seed=4)
    np.save(plane / "F.npy", (200 + 100 * recording.calcium).astype(np.float32))
    np.save(plane / "Fneu.npy", np.full((3, 2_000), 50, np.float32))
    proof = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {proof}",))

    np.save(
        plane / "ops.npy", np.array({"fs": 30.0, "x": Payload()}, dtype=object), allow_pickle=True
    )
    assert main(["infer", str(plane), "-o", str(tmp_path / "out.npy")]) == 1
    err = capsys.readouterr().err
    assert "ops.npy" in err and "posix.system" in err and "--rate" in err
    assert not proof.exists()
    assert (
        main(
            ["infer", str(plane), "-o", str(tmp_path / "out.npy"), "--rate", "30", "--no-progress"]
        )
        == 0
    )
    assert not proof.exists()
    np.save(
        plane / "ops.npy",
        np.array({"fs": np.float64(30.0), "mean": np.zeros((2, 2)), "names": ["a"]}, dtype=object),
        allow_pickle=True,
    )
    assert (
        calspike.data.suite2p.read_suite2p(plane).recording.rate == 30.0
    )  # plain data still reads
    assert "no code in it can run" in " ".join(_help(["infer", "--help"], capsys).split())


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().out


# 4. A thread count the OpenMP runtime cannot take is an error at every entry to the core.
def test_absurd_thread_counts_are_errors_not_crashes():
    script = textwrap.dedent("""
        import numpy as np, calspike
        from calspike.preprocess import resample, rebin_counts
        from calspike.spikes.rate import infer_spike_rates
        recording = calspike.simulate(2, 500, 30.0, seed=0)
        calls = {
            "resample": lambda t: resample(recording.calcium, 30, 25, threads=t),
            "rebin_counts": lambda t: rebin_counts(recording.spikes, 30, 25, [417, 417], threads=t),
            "infer_spike_rates": lambda t: infer_spike_rates(recording, threads=t),
            "partition": lambda t: calspike.partition(recording, threads=t),
            "features": lambda t: calspike.features(np.zeros((3, 20), np.float32), threads=t),
            "deconvolve": lambda t: calspike.deconvolve(recording, threads=t),
        }
        for name, call in calls.items():
            for threads in (65536, 32768, -1):
                try:
                    call(threads)
                    print(name, threads, "accepted")
                except ValueError as error:
                    print(name, threads, "ValueError", "threads" in str(error))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr  # a crash would end the process with a signal
    lines = done.stdout.split("\n")
    assert len([line for line in lines if line.endswith("ValueError True")]) == 18, done.stdout


def test_a_huge_omp_num_threads_is_capped_and_the_sidecar_says_how_many_ran(tmp_path):
    """OpenMP's default (0: all cores) comes from OMP_NUM_THREADS: 100000 crashed the C++ core."""
    script = textwrap.dedent("""
        import json, sys
        import numpy as np, calspike
        recording = calspike.simulate(3, 600, 30.0, seed=0)
        calspike.partition(recording)
        calspike.resample(recording.calcium, 30, 25)
        np.save(sys.argv[1] + "/x.npy", recording.calcium)
        calspike.infer(sys.argv[1] + "/x.npy", sys.argv[1] + "/p.npy", rate=30.0, method="oasis")
        sidecar = json.load(open(sys.argv[1] + "/p.npy.json"))
        print(calspike.build_info()["max_threads"], sidecar["threads_used"])
    """)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "100000"},
    )
    assert done.returncode == 0, done.stderr  # a crash ends the process with a signal
    assert (
        done.stdout.split() == [str(_core.MAX_THREADS)] * 2
    )  # capped at the most a caller may ask


def test_infer_refuses_a_sidecar_path_holding_the_users_file(tmp_path, capsys):
    traces = tmp_path / "x.npy"
    np.save(traces, calspike.simulate(3, 600, 30.0, seed=0).calcium)
    for output, sidecar in (
        (tmp_path / "p.npy", tmp_path / "p.npy.json"),
        (tmp_path / "p.zarr", tmp_path / "p.zarr.json"),
    ):
        sidecar.write_text("my notes")
        err = _usage_error(
            ["infer", str(traces), "--rate", "30", "--method", "oasis", "-o", str(output)], capsys
        )
        assert f"{sidecar} exists and calspike did not write it" in err
        assert sidecar.read_text() == "my notes" and not output.exists()
    json_notes = tmp_path / "q.npy.json"  # JSON, but not a calspike sidecar
    json_notes.write_text(json.dumps({"files": {"q.npy": "mine"}}))
    err = _usage_error(
        ["infer", str(traces), "--rate", "30", "--method", "oasis", "-o", str(tmp_path / "q.npy")],
        capsys,
    )
    assert "q.npy.json exists and calspike did not write it" in err
    for _ in range(2):  # the second time over its own output and sidecar
        assert (
            main(
                [
                    "infer",
                    str(traces),
                    "--rate",
                    "30",
                    "--method",
                    "oasis",
                    "-o",
                    str(tmp_path / "r.npy"),
                ]
            )
            == 0
        )
    assert json.loads((tmp_path / "r.npy.json").read_text())["files"].keys() == {"r.npy"}


@pytest.mark.parametrize("target", [".", "/", ".."])
def test_infer_onto_a_bare_folder_name_is_a_usage_error(tmp_path, capsys, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", calspike.simulate(2, 300, 30.0, seed=0).calcium)
    err = _usage_error(
        ["infer", "x.npy", "--rate", "30", "--method", "oasis", "-o", target], capsys
    )
    assert f"output {target} is a folder you already have" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


@pytest.mark.parametrize(
    "address", ["foo://bar:1", "127.0.0.1:99999", "tcp://host", "tcp://host:0", "a b:1"]
)
def test_a_malformed_scheduler_address_is_a_usage_error_before_any_work(tmp_path, capsys, address):
    np.save(tmp_path / "x.npy", calspike.simulate(2, 300, 30.0, seed=0).calcium)
    err = _usage_error(
        [
            "infer",
            str(tmp_path / "x.npy"),
            "--rate",
            "30",
            "--scheduler",
            address,
            "-o",
            str(tmp_path / "p.npy"),
        ],
        capsys,
    )
    assert "--scheduler must be an address" in err and repr(address) in err
    with pytest.raises(calspike.UsageError, match="--scheduler must be an address"):
        calspike.infer(tmp_path / "x.npy", tmp_path / "p.npy", rate=30.0, scheduler=address)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_scheduler_addresses_distributed_connects_to_pass_the_check():
    from calspike.spikes.budget import check_scheduler

    for address in (
        "tcp://10.0.0.5:8786",
        "10.0.0.5:8786",
        "TLS://h-1.lab:8786",
        "tcp://[::1]:8786",
        "inproc://192.0.2.2/1885/1",
        "ws://host:8786/path",
        None,
    ):
        check_scheduler(address)
    for address in ("tcp://127.0.0.1:8786/", "tcp://h:1\n", "tcp://h:\u0661\u0662", 8786):
        with pytest.raises(calspike.UsageError):
            check_scheduler(address)


def test_more_workers_than_the_machine_holds_is_a_usage_error(tmp_path, capsys):
    from calspike.spikes.budget import most_local_workers

    traces = tmp_path / "x.npy"
    np.save(traces, calspike.simulate(2, 300, 30.0, seed=0).calcium)
    for workers in (most_local_workers() + 1, 1000):
        err = _usage_error(
            [
                "infer",
                str(traces),
                "--rate",
                "30",
                "--workers",
                str(workers),
                "-o",
                str(tmp_path / "p.npy"),
            ],
            capsys,
        )
        assert (
            f"workers must be an integer in [1, {most_local_workers()}]" in err
            and f"got {workers}" in err
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


# 5. Replacing a report is one step; a killed run leaves the old or the new, never neither.
KILL = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from calspike import _io
    target, stage = Path(sys.argv[1]), sys.argv[2]
    if stage == "after-swap":
        _io.shutil.rmtree = lambda *args, **kwargs: os._exit(9)
    with _io.atomic_folder(target, "report folder") as folder:
        (folder / "index.html").write_text("new")
        if stage == "during-build":
            os._exit(9)
""")


@pytest.mark.parametrize("stage", ["during-build", "after-swap"])
def test_a_killed_replacement_leaves_a_whole_report_and_its_leftovers_go_next_time(tmp_path, stage):
    target = tmp_path / "report"
    with _io.atomic_folder(target, "report folder") as folder:
        (folder / "index.html").write_text("old")
    (tmp_path / "user.txt").write_text("mine")
    done = subprocess.run(
        [sys.executable, "-c", KILL, str(target), stage],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 9
    assert (target / _targets.MARKER).is_file()
    assert (target / "index.html").read_text() == ("old" if stage == "during-build" else "new")
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".report.calspike-")]
    assert len(leftovers) == 1
    with _io.atomic_folder(target, "report folder") as folder:  # the next run removes them
        (folder / "index.html").write_text("newest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "user.txt"]


def test_leftovers_of_live_runs_and_the_users_files_are_kept(tmp_path):
    target = tmp_path / "report"
    live = tmp_path / f".report.calspike-partial-{os.getppid()}"
    live.mkdir()  # a run in progress (our parent process is alive)
    look_alike = tmp_path / ".report.partial-1"
    look_alike.mkdir()  # the pre-marker naming: not calspike's pattern, never touched
    assert _io.remove_leftovers(target) == []
    assert live.is_dir() and look_alike.is_dir()


def test_the_fallback_swap_restores_the_old_report_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "report"
    with _io.atomic_folder(target, "report folder") as folder:
        (folder / "index.html").write_text("old")
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)  # no renameat2 (another OS)
    real_rename = Path.rename

    def failing(
        self, destination
    ):  # the new report cannot move into place; the old one can go back
        if Path(destination) == target and "calspike-partial" in self.name:
            raise OSError(28, "No space left on device")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError), _io.atomic_folder(target, "report folder") as folder:
        (folder / "index.html").write_text("new")
    assert (target / "index.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


# 6. infer's outputs are one unit: a folder appears whole; a file and its sidecar are checked
# together.
def test_an_interrupted_infer_leaves_no_folder_and_score_refuses_mixed_outputs(
    spikefinder_data, tmp_path
):
    script = textwrap.dedent("""
        import os, sys
        import calspike.spikes.files as infer
        from calspike.spikes.oasis_method import OasisMethod
        real = OasisMethod.__call__
        calls = []
        def dying(self, recording):
            calls.append(1)
            if len(calls) == 2:
                os._exit(9)
            return real(self, recording)
        OasisMethod.__call__ = dying
        infer.infer(sys.argv[1], sys.argv[2], method="oasis")
    """)
    predictions = tmp_path / "predictions"
    done = subprocess.run(
        [sys.executable, "-c", script, str(spikefinder_data), str(predictions)],
        timeout=120,
        check=False,
    )
    assert done.returncode == 9 and not predictions.exists()  # no folder holding half the datasets
    calspike.infer(spikefinder_data, predictions, method="oasis")
    assert len(score_files(spikefinder_data, [predictions])) == 3
    stray = predictions / "3.train.spikes.csv"
    stray.write_text((predictions / "1.train.spikes.csv").read_text())
    with pytest.raises(DataError, match="mixes files of different runs"):
        score_files(spikefinder_data / "1.train.spikes.csv", [stray])
    stray.unlink()
    # a single file: new predictions beside the previous run's sidecar are refused by score
    traces, truth = tmp_path / "traces.npy", tmp_path / "truth.npy"
    recording = calspike.simulate(3, 3_000, 100.0, seed=5)
    np.save(traces, recording.calcium)
    np.save(truth, recording.spikes)
    output = tmp_path / "pred.npy"
    calspike.infer(traces, output, rate=100.0, method="oasis")
    assert score_files(truth, [output])[0].neurons == 3
    np.save(
        output, np.load(output) * 2
    )  # as if a second run died after its array, before its sidecar
    with pytest.raises(DataError, match="differ from what .*pred.npy.json records"):
        score_files(truth, [output])


# 7. A checkpoint whose bytes changed does not load.
def _flip_a_byte(path: Path, member_part: str) -> None:
    """Flip one byte inside a stored tensor of a torch checkpoint (keeping the zip itself valid)."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    names = sorted(
        (n for n in members if f"/data/{member_part}" in n), key=lambda n: -len(members[n])
    )
    name = names[0]
    data = bytearray(members[name])
    data[len(data) // 2] ^= 0x10
    members[name] = bytes(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    path.write_bytes(buffer.getvalue())


def test_a_flipped_byte_in_a_checkpoint_is_an_error_naming_the_file(tmp_path):
    model = calspike.SpikeClassifier(channels=1, hidden=8)
    x = np.random.default_rng(0).standard_normal((64, 20, 1)).astype(np.float32)
    y = np.arange(64) % 2 == 0
    checkpoint = tmp_path / "model.pt"
    calspike.fit(model, x, y, epochs=1, checkpoint=checkpoint, progress=False)
    assert load_checkpoint(checkpoint)["epoch"] == 1
    for part in ("", "1"):  # the largest tensor (weights or optimiser moments), and another
        broken = tmp_path / f"broken{part}.pt"
        broken.write_bytes(checkpoint.read_bytes())
        _flip_a_byte(broken, part)
        with pytest.raises(DataError, match=f"{broken.name}.*do not match its checksum"):
            load_checkpoint(broken)
        with pytest.raises(DataError, match="checksum"):
            calspike.fit(
                calspike.SpikeClassifier(channels=1, hidden=8),
                x,
                y,
                epochs=2,
                checkpoint=broken,
                resume=True,
                progress=False,
            )
    state = load_checkpoint(checkpoint)
    del state["model_config"]
    save_checkpoint(state, tmp_path / "incomplete.pt")
    with pytest.raises(DataError, match="incomplete.pt.*lacks 'model_config'"):
        load_checkpoint(tmp_path / "incomplete.pt")
    old = {key: value for key, value in load_checkpoint(checkpoint).items()}
    old["format"] = 1
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(DataError, match="format 1"):
        load_checkpoint(tmp_path / "old.pt")


def test_outputs_of_train_prepare_score_and_evaluate_never_replace_a_users_file(tmp_path, capsys):
    precious = tmp_path / "precious.json"
    precious.write_text(json.dumps({"my": "notes"}))
    for argv in (["prepare", "-o", str(tmp_path / "w.npz")],):
        assert main(argv) == 0
    windows = tmp_path / "w.npz"
    err = _usage_error(["train", str(windows), "-o", str(precious)], capsys)
    assert "did not write" in err
    assert "did not write" in _usage_error(
        ["evaluate", str(windows), str(windows), "--json", str(precious)], capsys
    )
    assert "did not write" in _usage_error(
        ["train", str(windows), "-o", str(tmp_path / "m.pt"), "--history", str(precious)], capsys
    )
    (tmp_path / "data.npz").write_bytes(b"not windows")
    assert "did not write" in _usage_error(["prepare", "-o", str(tmp_path / "data.npz")], capsys)
    assert main(["prepare", "-o", str(windows), "--skip", "20"]) == 0  # its own windows: replaced
    assert json.loads(precious.read_text()) == {"my": "notes"}


def _ops_file(path: Path, ops: dict) -> Path:
    np.save(path, np.array(ops, dtype=object), allow_pickle=True)
    return path


def test_the_ops_reader_admits_plain_values_and_refuses_exotic_dtypes(tmp_path):
    from calspike.data.suite2p import read_ops

    plain = {
        "fs": 30.0,
        "frames": np.int64(9),
        "ok": np.bool_(True),
        "xy": np.arange(6.0).reshape(2, 3),
        "names": np.array(["a", "bc"]),
        "files": np.array(["x.tif", 3], dtype=object),
        "save_path": "suite2p/plane0",
    }
    assert read_ops(_ops_file(tmp_path / "plain.npy", plain)).keys() == plain.keys()
    for name, value in {
        "datetime": np.array(["2020-01-01"], dtype="M8[D]"),
        "timedelta": np.array([3], dtype="m8[s]"),
        "structured": np.zeros(2, dtype=[("a", "f8")]),
        "void": np.zeros(2, dtype="V4"),
    }.items():
        path = _ops_file(tmp_path / f"{name}.npy", {"fs": 30.0, name: value})
        with pytest.raises(DataError, match=f"{name}.npy.*refused a NumPy dtype"):
            read_ops(path)


def test_a_crafted_dtype_state_in_ops_npy_is_refused_without_reaching_numpy(tmp_path):
    """A float dtype whose pickled state claims fields (a structured dtype's state under a plain
    dtype's name) is refused before NumPy sees the state; the read runs in a child process, so
    that a crash, should NumPy meet such a state, fails this test instead of ending pytest."""
    structured = np.zeros(1, dtype=[("a", "f8")])
    path = _ops_file(tmp_path / "ops.npy", {"fs": 30.0, "x": structured})
    data = path.read_bytes()
    assert data.count(b"V8") == 1
    path.write_bytes(data.replace(b"V8", b"f8"))  # same length: the pickle stays well formed
    script = textwrap.dedent(
        f"""
        from calspike.data import DataError
        from calspike.data.suite2p import read_ops
        try:
            read_ops({str(path)!r})
        except DataError as error:
            print("DataError:", error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "ops.npy" in done.stdout and "refused the state" in done.stdout, done.stdout


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_the_preprocessing_functions_refuse_infinite_values_naming_where(value):
    traces = np.random.default_rng(0).normal(size=(3, 200)).astype(np.float32)
    traces[1, 7] = np.nan  # a missing frame: still fine
    for name, call in {
        "robust_normalise": lambda t: calspike.robust_normalise(t),
        "noise_levels": lambda t: calspike.noise_levels(t, 30.0),
        "resample": lambda t: calspike.resample(t, 30.0, 10.0),
        "fill_gaps": lambda t: calspike.fill_gaps(t),
        "rebin_counts": lambda t: calspike.rebin_counts(np.abs(t), 30.0, 10.0, [66, 66, 66]),
    }.items():
        call(traces)
        broken = traces.copy()
        broken[2, 50] = value
        with pytest.raises(DataError, match=r"neuron 2, frame 50: infinite values"):
            call(broken)
            pytest.fail(f"{name} accepted an infinite value")


def test_a_fortran_ordered_npy_is_streamed_by_rows_like_a_c_ordered_one(tmp_path):
    """What np.save(a.T) writes: infer reads it a block of neurons at a time, as the C-ordered
    file, with the same result; each block is read from the file's columns, never the whole."""
    from calspike.data.npy_stream import NpyRows

    calcium = calspike.simulate(6, 3_000, 30.0, seed=1).calcium
    np.save(tmp_path / "c.npy", calcium)
    np.save(tmp_path / "f.npy", np.asfortranarray(calcium).astype(">f8"))
    rows = NpyRows(tmp_path / "f.npy")
    for start, stop in ((0, 6), (0, 2), (2, 5), (5, 6), (3, 3)):
        block = rows.rows(start, stop)
        assert block.flags.c_contiguous and block.dtype.isnative
        assert np.array_equal(block, calcium[start:stop].astype(np.float64))
    rows.close()
    for name in ("c", "f"):
        calspike.infer(
            tmp_path / f"{name}.npy",
            tmp_path / f"{name}_out.npy",
            rate=30.0,
            method="oasis",
            chunk_neurons=2,
        )
    assert np.array_equal(np.load(tmp_path / "c_out.npy"), np.load(tmp_path / "f_out.npy"))


def _external_hdf5(path: Path, values: np.ndarray, raw: Path) -> None:
    """An HDF5 file whose dataset "x" keeps its values in `raw` (external raw storage)."""
    h5py = pytest.importorskip("h5py")
    raw.write_bytes(np.ascontiguousarray(values, dtype="<f4").tobytes())
    with h5py.File(path, "w") as file:
        file.create_dataset(
            "x", shape=values.shape, dtype="<f4", external=[(str(raw), 0, values.nbytes)]
        )


def test_hdf5_values_stored_outside_the_file_are_refused(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    calcium = calspike.simulate(3, 600, 30.0, seed=2).calcium
    _external_hdf5(tmp_path / "external.h5", calcium, tmp_path / "elsewhere.bin")
    sources = tmp_path / "sources.h5"
    with h5py.File(sources, "w") as file:
        file.create_dataset("x", data=calcium)
    layout = h5py.VirtualLayout(shape=calcium.shape, dtype=calcium.dtype)
    layout[:] = h5py.VirtualSource(str(sources), "x", shape=calcium.shape)
    with h5py.File(tmp_path / "virtual.h5", "w") as file:
        file.create_virtual_dataset("x", layout)
    for name, message in (("external", "stored outside the HDF5 file"), ("virtual", "virtual")):
        source = f"{tmp_path / name}.h5:/x"
        with pytest.raises(DataError, match=f"{name}.h5:/x: .*{message}"):
            calspike.infer(source, tmp_path / f"{name}_out.npy", rate=30.0, method="oasis")
        assert main(["infer", source, "-o", str(tmp_path / "o.npy"), "--rate", "30"]) == 1
        assert message in capsys.readouterr().err
        assert not (tmp_path / f"{name}_out.npy").exists()


def test_nwb_series_with_outside_values_or_mismatched_timestamps_are_refused(tmp_path):
    pytest.importorskip("pynwb")
    h5py = pytest.importorskip("h5py")
    from test_nwb import write_session

    calcium = calspike.simulate(2, 300, 30.0, seed=4).calcium
    short = write_session(tmp_path / "short.nwb", calcium, None, timestamps=np.arange(300) / 30)
    with h5py.File(short, "r+") as file:  # pynwb writes no such file: cut its timestamps after
        name = next(path for path in _hdf5_datasets(file) if path.endswith("dff/timestamps"))
        times = file[name][:250]
        del file[name]
        file.create_dataset(name, data=times)
    with warnings.catch_warnings():  # pynwb's own warning about the file comes first
        warnings.filterwarnings("ignore", ".*Length of data does not match")
        with pytest.raises(DataError, match=r"short.nwb: series 'dff': 250 timestamps for 300"):
            calspike.read_nwb(short)
    with pytest.raises(DataError) as refused:  # and where that warning is an error
        calspike.read_nwb(short)
    assert "Length of data does not match length of timestamps" in str(refused.value)
    assert len(str(refused.value)) < 300 + len(str(short)) + 40  # one line, not hdmf's tree
    outside = write_session(tmp_path / "outside.nwb", calcium)
    with h5py.File(outside, "r+") as file:
        name = next(path for path in _hdf5_datasets(file) if path.endswith("dff/data"))
        values = file[name][()]
        del file[name]
        (tmp_path / "raw.bin").write_bytes(values.astype("<f4").tobytes())
        file.create_dataset(
            name,
            shape=values.shape,
            dtype="<f4",
            external=[(str(tmp_path / "raw.bin"), 0, values.astype("<f4").nbytes)],
        )
    with pytest.raises(DataError, match=r"outside.nwb: series 'dff': .*stored outside"):
        calspike.read_nwb(outside)


def _hdf5_datasets(file) -> list[str]:
    found: list[str] = []
    file.visit(lambda name: found.append(name))
    return found


@pytest.mark.parametrize(
    ("kind", "setting", "value"),
    [
        ("SpikeClassifier", "hidden", 10**9),
        ("CalciumVAE", "latent", 10**9),
        ("SpikeRateModel", "channels", 10**9),
        ("SpikeRateModel", "dilations", [1, 10**9]),
        ("SpikeRateModel", "smooth", 1e15),
    ],
)
def test_a_checkpoint_asking_for_a_huge_model_is_refused_before_allocating(
    tmp_path, kind, setting, value
):
    """A small file whose model config asks for billions of units (with a valid checksum: the
    format is public) is refused by the settings' schema, naming the file, before any layer is
    allocated (the old code tried to allocate them)."""
    from calspike.models import build_model
    from calspike.training import save_model

    small = {"SpikeClassifier": {"hidden": 4}, "CalciumVAE": {"length": 20, "latent": 2}}
    model = build_model(kind, small.get(kind, {"channels": 4}))
    path = tmp_path / "model.pt"
    save_model(model, path)
    state = load_checkpoint(path)
    state["model_config"] = {**state["model_config"], setting: value}
    save_checkpoint(state, tmp_path / "huge.pt")
    with pytest.raises(DataError, match=r"huge.pt.*(hidden|latent|channels|dilation|smooth) must"):
        calspike.load_model(tmp_path / "huge.pt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_no_reader_waits_on_a_fifo_or_reads_a_device(tmp_path):
    """Every kind of input given as a FIFO (no writer: a plain open would wait forever) or a
    character device is a data error naming it, at once. Run in a child process with a
    timeout, so that a reader that waits fails this test instead of hanging the suite."""
    calspike.simulate(2, 300, 30.0, seed=0)  # the extension loads in the parent too
    for name in ("a.npy", "a.csv", "a.npz", "a.pt", "a.toml", "a.nwb", "a.h5", "w.npz", "j.json"):
        os.mkfifo(tmp_path / name)
    np.save(tmp_path / "t.npy", np.zeros((2, 400)))
    (tmp_path / "cascade" / "DS01-GCaMP6f-m-V1").mkdir(parents=True)
    os.mkfifo(tmp_path / "cascade" / "DS01-GCaMP6f-m-V1" / "CAttached_n1_mini.mat")
    (tmp_path / "plane0").mkdir()
    os.mkfifo(tmp_path / "plane0" / "F.npy")
    zarr = pytest.importorskip("zarr")
    store = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=(2, 100), dtype="f4")
    store[:] = 1.0
    chunk = next(
        p for p in (tmp_path / "a.zarr").rglob("*") if p.is_file() and "zarr" not in p.name
    )
    chunk.unlink()
    os.mkfifo(chunk)
    script = textwrap.dedent(
        f"""
        import contextlib, io, pathlib, sys
        import calspike
        from calspike.cli import main
        from calspike.training import load_checkpoint
        from calspike.windows.store import load_windows
        d = pathlib.Path({str(tmp_path)!r})
        calls = {{
            "read_array": lambda: calspike.read_array(d / "a.npy", rate=30.0),
            "read_array csv": lambda: calspike.read_array(d / "a.csv", rate=30.0),
            "read_array npz": lambda: calspike.read_array(d / "a.npz", rate=30.0),
            "infer npy": lambda: calspike.infer(d / "a.npy", d / "o1.npy", rate=30.0),
            "infer zarr": lambda: calspike.infer(d / "a.zarr", d / "o2.npy", rate=30.0),
            "infer hdf5": lambda: calspike.infer(f"{{d / 'a.h5'}}:/x", d / "o3.npy", rate=30.0),
            "infer device": lambda: calspike.infer("/dev/zero", d / "o4.npy", rate=30.0),
            "read_nwb": lambda: calspike.read_nwb(d / "a.nwb"),
            "checkpoint": lambda: load_checkpoint(d / "a.pt"),
            "windows": lambda: load_windows(d / "w.npz"),
            "cascade": lambda: calspike.read_ground_truth(d / "cascade"),
            "suite2p": lambda: calspike.read_suite2p(d / "plane0", rate=30.0),
        }}
        for name, call in calls.items():
            try:
                call()
                print(name, "ACCEPTED")
            except Exception as error:
                print(name, "|", type(error).__name__, "|", error)
        def code(argv):
            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    return main(argv)
            except SystemExit as exit:  # argparse's usage errors
                return exit.code
        print("config |", code(["run", "--config", str(d / "a.toml"), "-o", str(d / "r")]))
        print("score |", code(["score", str(d / "a.npy"), str(d / "a.csv")]))
        # a FIFO as the output of --json: the check that it is calspike's must not wait on it
        print("score json |", code(["score", str(d / "t.npy"), str(d / "t.npy"), "--json",
                                    str(d / "j.json")]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" | ", 1) for line in done.stdout.splitlines() if " | " in line)
    assert set(lines) >= {
        "read_array",
        "infer npy",
        "infer zarr",
        "checkpoint",
        "config",
        "score json",
    }
    for name, outcome in lines.items():
        if name in ("config", "score", "score json"):
            assert outcome in ("1", "2"), (name, outcome)
            continue
        kind, _, message = outcome.partition(" | ")
        assert kind in ("DataError", "ValueError"), (name, outcome)
        assert "not a regular file" in message or "unsupported file type" in message, (
            name,
            outcome,
        )
    assert "not a regular file" in lines["infer zarr"] and "FIFO" in lines["infer zarr"]


def test_a_calspike_folder_is_replaced_only_by_one_of_its_kind_and_only_with_its_own_files(
    spikefinder_data, tmp_path, capsys
):
    """An infer folder does not replace a windows store (nor the reverse), and a calspike
    folder a user has put files into is refused, naming them; nothing in it is deleted."""
    predictions, store = tmp_path / "predictions", tmp_path / "w.zarr"
    infer = ["infer", str(spikefinder_data), "--method", "oasis", "--no-progress"]
    assert main([*infer, "-o", str(predictions)]) == 0
    assert main(["prepare", "-o", str(store)]) == 0
    err = _usage_error([*infer, "-o", str(store)], capsys)
    assert "is a calspike windows folder, not a predictions folder" in err
    zarr_predictions = tmp_path / "p.zarr"
    traces = tmp_path / "traces.npy"
    np.save(traces, calspike.simulate(2, 1_000, 30.0, seed=0).calcium)
    assert (
        main(
            ["infer", str(traces), "--rate", "30", "--method", "oasis", "-o", str(zarr_predictions)]
        )
        == 0
    )
    err = _usage_error(["prepare", "-o", str(zarr_predictions)], capsys)
    assert "is a calspike predictions folder, not a windows folder" in err
    (predictions / "my-analysis.ipynb").write_text("{}")
    (predictions / "plots").mkdir()
    (predictions / "plots" / "fig1.png").write_bytes(b"png")
    err = _usage_error([*infer, "-o", str(predictions)], capsys)
    assert "did not write there or that changed since (my-analysis.ipynb, plots/fig1.png)" in err
    assert (predictions / "my-analysis.ipynb").read_text() == "{}"
    (predictions / "my-analysis.ipynb").unlink()
    shutil.rmtree(predictions / "plots")
    assert main([*infer, "-o", str(predictions)]) == 0  # its own files only: replaced
    edited = next(predictions.glob("*.spikes.csv"))
    edited.write_text(edited.read_text() + "\n")  # the user's edit to a file calspike wrote
    err = _usage_error([*infer, "-o", str(predictions)], capsys)
    assert f"or that changed since ({edited.name})" in err and edited.read_text().endswith("\n")


def test_no_output_lands_in_the_installed_package_or_replaces_the_working_folder(
    spikefinder_data, tmp_path, capsys, monkeypatch
):
    import importlib.util

    package = Path(calspike.__file__).resolve().parent
    extension_folder = Path(importlib.util.find_spec("calspike._core").origin).parent
    weights = next(package.rglob("*.pt"))  # the shipped rate model
    before = weights.read_bytes()
    traces = tmp_path / "traces.npy"
    np.save(traces, calspike.simulate(3, 2_000, 30.0, seed=0).calcium)
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows)]) == 0
    for argv in (
        ["train-rate", str(spikefinder_data), "--init", "default", "-o", str(weights)],
        [
            "train-rate",
            str(spikefinder_data),
            "-o",
            str(tmp_path / "m.pt"),
            "--export",
            str(weights),
        ],
        ["train", str(windows), "-o", str(package / "model.pt")],
        ["infer", str(traces), "--rate", "30", "-o", str(package / "out.npy")],
        # an editable install keeps the compiled extension in another folder
        ["infer", str(traces), "--rate", "30", "-o", str(extension_folder / "out.npy")],
        ["run", "-o", str(package / "report"), *SMALL_RUN],
    ):
        assert "inside the installed calspike package" in _usage_error(argv, capsys), argv
    assert weights.read_bytes() == before
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for target in (".", "..", "/", str(Path.home())):
        for argv in (
            ["run", "-o", target, *SMALL_RUN],
            ["prepare", "-o", target],
            ["infer", str(spikefinder_data), "--method", "oasis", "-o", target],
        ):
            err = _usage_error(argv, capsys)  # exit 2, before any work
            reasons = ("would replace whole", "is a folder", "saved as .npz or a .zarr")
            assert any(reason in err for reason in reasons), (argv, err)
    assert not any((tmp_path / "work").rglob("*.calspike*")) and not list(work.iterdir())


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["run", "--quick", "--vae-features", "delta,raw"], "--vae-features must start with raw"),
        (["run", "--quick", "--features", "raw,tutorial_delta"], "--features: tutorial_delta"),
        (["train", "--features", "raw,tutorial_delta"], "--features: tutorial_delta"),
        (["train", "--vae-features", "delta"], "--vae-features must start with raw"),
    ],
)
def test_bad_feature_lists_are_usage_errors_before_any_data_is_read(tmp_path, capsys, argv, option):
    """The data named does not exist: the feature lists must be refused first, with exit 2."""
    missing = str(tmp_path / "missing.npz")
    command, *rest = argv
    full = [command, "--data", missing, "-o", str(tmp_path / "r"), *rest]
    if command == "train":
        full = [command, missing, "-o", str(tmp_path / "m.pt"), *rest]
    assert option in _usage_error(full, capsys)


def test_a_dask_worker_never_takes_the_model_from_a_predictable_shared_path(tmp_path, monkeypatch):
    """A worker saves the checkpoint bytes it receives in a folder of its own (unpredictable
    name, mode 0700) and checks them by SHA-256 on reuse; a model another user planted under
    the name the old code used in the shared temporary folder is never read."""
    from calspike.spikes import rate_method
    from calspike.spikes.method import MethodSettings
    from calspike.spikes.rate import default_model_path

    monkeypatch.setattr(rate_method.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(rate_method, "_PRIVATE", [])
    payload = default_model_path().read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    planted = tmp_path / f"calspike-model-{digest[:16]}.pt"  # where the old code looked
    planted.write_bytes(b"another user's model")
    settings = MethodSettings()
    first = rate_method.RateModelMethod.on_worker(payload, settings).settings.model
    assert first != planted and first.parent != tmp_path and first.read_bytes() == payload
    assert (first.parent.stat().st_mode & 0o777) == 0o700
    first.write_bytes(b"changed on disk")  # reused only while its bytes match
    again = rate_method.RateModelMethod.on_worker(payload, settings).settings.model
    assert again == first and again.read_bytes() == payload


def test_score_neurons_refuses_bins_that_leave_nothing_to_score():
    from calspike.spikes.metrics import score_neurons

    truth = np.random.default_rng(0).poisson(0.2, (2, 100)).astype(float)
    assert np.isfinite(score_neurons(truth, truth + 0.1, bins=4)["correlation"]).all()
    for bins in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=r"bins must be an integer >= 1"):
            score_neurons(truth, truth + 0.1, bins=bins)
    with pytest.raises(ValueError, match=r"bins=1000 leaves nothing to score.*the most: 100"):
        score_neurons(truth, truth + 0.1, bins=1000)


def test_run_and_prepare_name_the_neurons_without_a_finite_frame(tmp_path, capsys):
    """As infer does: partition (behind run and prepare) warns, naming the recording and neuron."""
    recording = calspike.simulate(3, 3_000, 100.0, seed=5)
    calcium = recording.calcium.copy()
    calcium[1] = np.nan
    columns = [str(i) for i in range(3)]
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame(calcium.T, columns=columns).to_csv(folder / "1.train.calcium.csv", index=False)
    pd.DataFrame(recording.spikes.T, columns=columns).to_csv(
        folder / "1.train.spikes.csv", index=False
    )
    with pytest.warns(
        calspike.EmptyNeuronWarning, match=r"1 neuron\(s\) \(1\) hold no finite frame"
    ):
        assert main(["prepare", "--data", str(folder), "-o", str(tmp_path / "w.npz")]) == 0
    with pytest.warns(calspike.EmptyNeuronWarning, match="they give no windows"):
        calspike.partition(calspike.Recording(calcium, 100.0, recording.spikes, name="mine"))


def test_fetch_replaces_only_what_it_wrote_and_keeps_usual_permissions(tmp_path, capsys):
    """fetch --cache: a user's archive or folder under the names calspike uses is refused and
    kept, other files in the cache are untouched, and the extracted data are readable by the
    user's group as the umask allows (mkdtemp's 0700 had hidden them)."""
    from test_download import _Server, _spikefinder_zip

    with _Server() as server:
        server.files["/spikefinder.train.zip"] = _spikefinder_zip()
        url = server.url + "/spikefinder.train.zip"
        cache = tmp_path / "cache"
        (cache / "spikefinder").mkdir(parents=True)
        mine = cache / "spikefinder" / "spikefinder.train.zip"
        mine.write_bytes(b"my own archive")
        with pytest.raises(calspike.UsageError, match="calspike did not download it"):
            calspike.fetch_spikefinder(url=url, cache=cache, progress=False)
        assert mine.read_bytes() == b"my own archive"
        mine.unlink()
        folder = cache / "spikefinder" / "spikefinder.train"
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
        with pytest.raises(calspike.UsageError, match="calspike did not extract it"):
            calspike.fetch_spikefinder(url=url, cache=cache, progress=False)
        assert (folder / "notes.txt").read_text() == "mine"
        (folder / "notes.txt").unlink()
        folder.rmdir()
        (cache / "spikefinder" / "other.txt").write_text("keep me")
        umask = os.umask(0o022)
        try:
            found = calspike.fetch_spikefinder(url=url, cache=cache, progress=False)
        finally:
            os.umask(umask)
        assert (folder.stat().st_mode & 0o777) == 0o755
        assert found.is_relative_to(folder) and any(found.glob("*.calcium.csv"))
        assert (cache / "spikefinder" / "other.txt").read_text() == "keep me"
        calspike.fetch_spikefinder(url=url, cache=cache, progress=False)  # its own: reused
        assert len(server.requests) == 1


def test_prepare_writes_no_windows_store_inside_an_input_folder(spikefinder_data, capsys):
    before = _snapshot(spikefinder_data)
    store = spikefinder_data / "w.zarr"
    err = _usage_error(["prepare", "--data", str(spikefinder_data), "-o", str(store)], capsys)
    assert "lies inside the input folder" in err
    assert _snapshot(spikefinder_data) == before and not store.exists()


def test_read_errors_name_the_file_and_what_to_do(tmp_path, capsys, monkeypatch):
    """An object .npy given to score, a CSV the disk fails to read, a truncated checkpoint given
    to --resume (calspike's own, not 'a file calspike did not write')."""
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "truth.npy", np.zeros((2, 600)))
    assert main(["score", str(tmp_path / "obj.npy"), str(tmp_path / "truth.npy")]) == 1
    assert "obj.npy: not a readable .npy array" in capsys.readouterr().err
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows)]) == 0
    checkpoint = tmp_path / "m.pt"
    assert main(["train", str(windows), "-o", str(checkpoint), "--epochs", "1"]) == 0
    checkpoint.write_bytes(checkpoint.read_bytes()[:3000])
    capsys.readouterr()
    err = _usage_error(["train", str(windows), "-o", str(checkpoint), "--resume"], capsys)
    assert "--resume:" in err and "m.pt: not a readable calspike checkpoint, truncated" in err
    csv = tmp_path / "1.train.calcium.csv"
    pd.DataFrame(np.zeros((100, 2))).to_csv(csv, index=False)

    def failing_disk(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(pd, "read_csv", failing_disk)
    with pytest.raises(DataError, match=r"1.train.calcium.csv: cannot be read \(Input/output"):
        calspike.read_spikefinder(tmp_path, rate=100.0)


def test_a_full_disk_is_one_line_naming_the_output_and_leaves_nothing(
    tmp_path, capsys, monkeypatch
):
    import errno

    zarr = pytest.importorskip("zarr")

    from calspike.windows import store

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.np, "savez", full)
    monkeypatch.setattr(zarr.Array, "append", full)
    for name in ("w.npz", "w.zarr"):
        assert main(["prepare", "-o", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"calspike: error: cannot write {tmp_path / name}: No space left on device"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_output_never_stands_without_its_sidecar(tmp_path, capsys):
    """infer killed after its .npy output took its place but before the final sidecar: the
    output has a pending calspike sidecar beside it (before: none, and the next infer refused
    to replace 'a file calspike did not write'); score refuses it, the next infer replaces it."""
    traces = tmp_path / "traces.npy"
    np.save(traces, calspike.simulate(3, 2_000, 30.0, seed=0).calcium)
    output, sidecar = tmp_path / "p.npy", tmp_path / "p.npy.json"
    script = textwrap.dedent(
        f"""
        import os
        import calspike.spikes.files as files
        real = files.write_text
        def dying(path, text):
            if '"pending"' not in text:  # the final sidecar, after the output took its place
                os._exit(9)
            real(path, text)
        files.write_text = dying
        files.infer({str(traces)!r}, {str(output)!r}, rate=30.0, method="oasis")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 9, done.stderr
    assert output.is_file() and json.loads(sidecar.read_text())["pending"]
    assert main(["score", str(traces), str(output), "--rate", "30"]) == 1
    assert "did not finish: run infer again" in capsys.readouterr().err
    assert main(["infer", str(traces), "-o", str(output), "--rate", "30", "--method", "oasis"]) == 0
    assert "pending" not in json.loads(sidecar.read_text())
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((2, 100), np.inf))
    with pytest.raises(DataError):  # an error before the output: the previous sidecar stands
        calspike.infer(bad, output, rate=30.0, method="oasis")
    assert "pending" not in json.loads(sidecar.read_text())


def test_hdf5_input_errors_name_the_file_and_what_to_do(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    calcium = calspike.simulate(2, 500, 30.0, seed=0).calcium
    with h5py.File(tmp_path / "text_rate.h5", "w") as file:
        file["x"] = calcium
        file["x"].attrs["fr"] = "abc"  # numpy's ufunc error named nothing
    with h5py.File(tmp_path / "plain.h5", "w") as file:
        file["x"] = calcium
    for argv, message in (
        (["infer", f"{tmp_path / 'text_rate.h5'}:/x"], "text_rate.h5:/x: attribute fr must be one"),
        (["infer", f"{tmp_path / 'plain.h5'}:/x"], "plain.h5:/x: it stores no frame rate: give it"),
        (["infer", str(tmp_path / "plain.h5"), "--rate", "30"], "names its dataset: FILE.h5:/"),
        (
            ["train-rate", f"{tmp_path / 'plain.h5'}:/x", "--rate", "30"],
            "plain.h5:/x: an HDF5 dataset holds traces without spikes",
        ),
    ):
        output = ["-o", str(tmp_path / ("m.pt" if argv[0] == "train-rate" else "out.npy"))]
        method = ["--method", "oasis"] if argv[0] == "infer" else []
        assert main([*argv, *output, *method]) == 1, argv
        assert message in capsys.readouterr().err, argv


def test_a_checkpoint_whose_sizes_together_ask_for_billions_of_weights_is_refused(tmp_path):
    """Each size within its range, together 6e9 weights (26 GB): counted on PyTorch's meta
    device, which allocates nothing, and refused naming the file."""
    from calspike.training import save_model

    save_model(calspike.SpikeClassifier(hidden=4), tmp_path / "model.pt")
    state = load_checkpoint(tmp_path / "model.pt")
    huge = {"hidden": 4096, "layers": 16, "bidirectional": True, "channels": 64}
    state["model_config"] = {**state["model_config"], **huge}
    save_checkpoint(state, tmp_path / "huge.pt")
    with pytest.raises(DataError, match=r"huge.pt.*6,177,169,409 weights is larger than"):
        calspike.load_model(tmp_path / "huge.pt")


def test_an_hdf5_external_link_into_another_file_is_refused(tmp_path):
    h5py = pytest.importorskip("h5py")
    calcium = calspike.simulate(2, 400, 30.0, seed=0).calcium
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file["x"] = calcium
    with h5py.File(tmp_path / "linked.h5", "w") as file:
        file["ext"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")
    with pytest.raises(DataError, match=r"linked.h5:/ext: an external link to .*other.h5"):
        calspike.infer(f"{tmp_path / 'linked.h5'}:/ext", tmp_path / "o.npy", rate=30.0)
    assert not (tmp_path / "o.npy").exists()


def test_empty_inputs_fifo_checkpoints_and_warnings_are_one_line_naming_the_file(tmp_path, capsys):
    """An empty .npy/.npz, an array of no values given to score, a FIFO given to --resume:
    errors name the file (numpy's 'No data left in file' named nothing; score printed NaN;
    --resume said 'no checkpoint'); the CLI prints each warning as one line."""
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "zero.npy", np.zeros((0, 2000)))
    np.save(tmp_path / "truth.npy", np.zeros((2, 2000)))
    for argv, message in (
        (["score", str(tmp_path / "truth.npy"), str(tmp_path / "empty.npy")], "empty.npy: not a"),
        (["score", str(tmp_path / "zero.npy"), str(tmp_path / "zero.npy")], "holds no values"),
        (
            ["infer", str(tmp_path / "empty.npz"), "-o", str(tmp_path / "o.npy"), "--rate", "30"],
            "empty.npz: not a readable .npz archive",
        ),
    ):
        assert main(argv) == 1, argv
        assert message in capsys.readouterr().err, argv
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows)]) == 0
    os.mkfifo(tmp_path / "f.pt")
    err = _usage_error(["train", str(windows), "-o", str(tmp_path / "f.pt"), "--resume"], capsys)
    assert "--resume: " in err and "f.pt: a FIFO" in err
    calcium = np.array(calspike.simulate(3, 2_000, 30.0, seed=0).calcium)
    calcium[1] = np.nan
    np.save(tmp_path / "gappy.npy", calcium)
    argv = ["infer", str(tmp_path / "gappy.npy"), "-o", str(tmp_path / "g.npy"), "--rate", "30"]
    with pytest.warns(calspike.EmptyNeuronWarning):
        assert main([*argv, "--method", "oasis"]) == 0
    from calspike.cli.dispatch import _one_line

    line = _one_line(calspike.EmptyNeuronWarning("x: 1 neuron(s)"), UserWarning, "/a/b.py", 3)
    assert line == "calspike: warning: x: 1 neuron(s)\n"


def test_nwb_ground_truth_timed_differently_from_its_traces_is_refused(tmp_path):
    pytest.importorskip("pynwb")
    h5py = pytest.importorskip("h5py")
    from test_nwb import write_session

    recording = calspike.simulate(2, 600, 30.0, seed=1)
    for change in ("start", "rate"):
        path = write_session(tmp_path / f"{change}.nwb", recording.calcium, counts=recording.spikes)
        calspike.read_nwb(path)  # as written: the same frames
        with h5py.File(path, "r+") as file:
            name = next(p for p in _hdf5_datasets(file) if p.endswith("spike_counts/starting_time"))
            if change == "start":
                file[name][()] = 100.0  # 100 s later
            else:
                file[name].attrs["rate"] = 60.0
        with pytest.raises(DataError, match=rf"{change}.nwb: spike_counts is timed differently"):
            calspike.read_nwb(path)


def test_score_names_the_file_that_holds_an_infinite_value(tmp_path, capsys):
    bad, good = np.zeros((2, 600)), np.zeros((2, 600))
    bad[0, 9] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "good.npy", good)
    for truth, prediction, what in (("bad", "good", "truth"), ("good", "bad", "prediction")):
        argv = ["score", str(tmp_path / f"{truth}.npy"), str(tmp_path / f"{prediction}.npy")]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"bad.npy: {what} is infinite at neuron 0, frame 9" in err


def test_nwb_rates_and_timestamps_and_repeated_features_are_named(tmp_path, capsys):
    pytest.importorskip("pynwb")
    h5py = pytest.importorskip("h5py")
    from test_nwb import write_session

    calcium = calspike.simulate(2, 300, 30.0, seed=4).calcium
    fast = write_session(tmp_path / "fast.nwb", calcium)
    with h5py.File(fast, "r+") as file:
        name = next(p for p in _hdf5_datasets(file) if p.endswith("dff/starting_time"))
        file[name].attrs["rate"] = 1e9
    with pytest.raises(DataError, match=r"fast.nwb: series 'dff': rate must be a frame rate"):
        calspike.read_nwb(fast)
    text = write_session(tmp_path / "text.nwb", calcium, None, timestamps=np.arange(300) / 30)
    with h5py.File(text, "r+") as file:
        name = next(p for p in _hdf5_datasets(file) if p.endswith("dff/timestamps"))
        del file[name]
        file[name] = np.array([b"a"] * 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb's own about the odd timestamps
        with pytest.raises(DataError, match=r"text.nwb: series 'dff': timestamps must be numbers"):
            calspike.read_nwb(text)
    assert "names a feature twice" in _usage_error(
        ["train", str(tmp_path / "w.npz"), "-o", str(tmp_path / "m.pt"), "--features", "raw,raw"],
        capsys,
    )


def test_prepare_says_a_chunked_input_needs_a_windows_store(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "plain.h5", "w") as file:
        file["x"] = calspike.simulate(2, 500, 30.0, seed=0).calcium
    argv = ["prepare", "--data", f"{tmp_path / 'plain.h5'}:/x", "--rate", "30"]
    err = _usage_error([*argv, "-o", str(tmp_path / "w.npz")], capsys)
    assert "read a chunk at a time into a windows store: give -o STORE.zarr" in err
    pytest.importorskip("zarr")
    assert main([*argv, "-o", str(tmp_path / "w.zarr")]) == 0


def test_evaluate_refuses_a_model_that_does_not_take_the_windows(tmp_path, capsys):
    """A checkpoint whose model takes other channels or windows of another length (4e5 frames
    here: the old code failed deep inside PyTorch, or allocated for it) names both files."""
    from calspike.training import save_model

    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows)]) == 0
    save_model(calspike.CalciumVAE(length=400_000, hidden=4, latent=2), tmp_path / "long.pt")
    assert main(["evaluate", str(tmp_path / "long.pt"), str(windows)]) == 1
    assert "takes windows of 400000 frames, " in capsys.readouterr().err
    save_model(calspike.SpikeClassifier(channels=3, hidden=4), tmp_path / "wide.pt")
    assert main(["evaluate", str(tmp_path / "wide.pt"), str(windows)]) == 1
    assert "takes 3 feature channel(s), but its checkpoint names 1" in capsys.readouterr().err


def test_threads_of_one_worker_save_the_received_model_once_and_safely(tmp_path, monkeypatch):
    """Dask's threaded scheduler builds the method in several threads of one process at once:
    each must get the whole, verified file (two threads renaming one partial file raced)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from calspike.spikes import rate_method
    from calspike.spikes.rate import default_model_path

    monkeypatch.setattr(rate_method.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(rate_method, "_PRIVATE", [])
    payload = default_model_path().read_bytes()
    write_bytes = Path.write_bytes

    def slow_disk(self, data):  # a slow disk: the threads overlap while the file is written
        written = write_bytes(self, data)
        time.sleep(0.05)
        return written

    monkeypatch.setattr(Path, "write_bytes", slow_disk)
    start = threading.Barrier(8)

    def one(_):
        start.wait()
        return rate_method.private_copy(payload)

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(one, range(8)))
    assert len(set(paths)) == 1 and paths[0].read_bytes() == payload


def test_a_headerless_csv_with_a_short_line_is_named_not_padded(tmp_path, capsys):
    """pandas pads a line with fewer cells with NaN: a neuron would silently lose frames."""
    (tmp_path / "traces.csv").write_text("0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8\n")
    assert (
        main(["infer", str(tmp_path / "traces.csv"), "--rate", "30", "-o", str(tmp_path / "p.npy")])
        == 1
    )
    error = capsys.readouterr().err.strip()
    assert (
        error.count("\n") == 0 and "traces.csv: line 3: 2 cells where the first line has 3" in error
    )
    assert not (tmp_path / "p.npy").exists()
    (tmp_path / "traces.csv").write_text(
        "0.1,0.2,\n0.4,0.5,0.6\n\n0.7,0.8,0.9\n"
    )  # empty cells: NaN
    assert calspike.read_array(tmp_path / "traces.csv", rate=30).calcium.shape[0] == 3


def test_a_checkpoint_setting_of_a_million_items_gives_a_short_error(tmp_path):
    """The refusal quoted the whole setting: a 3 MB line for a million dilations."""
    from calspike.models import build_model
    from calspike.training import save_model

    save_model(build_model("SpikeRateModel", {"channels": 4}), tmp_path / "model.pt")
    state = load_checkpoint(tmp_path / "model.pt")
    state["model_config"] = {**state["model_config"], "dilations": [1] * 1_000_000}
    save_checkpoint(state, tmp_path / "many.pt")
    with pytest.raises(DataError, match=r"many.pt.*dilations must be 1 to 64 integers") as refused:
        calspike.load_model(tmp_path / "many.pt")
    assert len(str(refused.value)) < 500
    with pytest.raises(ValueError, match="warps must") as bad:
        calspike.config.check({"warps": "x" * 100_000})
    assert len(str(bad.value)) < 500


def test_an_output_file_edited_since_calspike_wrote_it_is_refused_and_kept(tmp_path, capsys):
    """Before: its sidecar named it, so the edited file was replaced (found by the probe)."""
    traces = calspike.simulate(3, 600, 30.0, seed=0).calcium
    np.save(tmp_path / "t.npy", traces)
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--method", "oasis"]
    assert main([*argv, "-o", str(tmp_path / "p.npy")]) == 0
    assert main([*argv, "-o", str(tmp_path / "p.npy")]) == 0  # its own output: replaced
    np.save(tmp_path / "p.npy", traces)  # the user's array, same shape and size
    stamp = (tmp_path / "p.npy").stat()
    os.utime(tmp_path / "p.npy", ns=(stamp.st_atime_ns, stamp.st_mtime_ns - 10**9))
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:
        main([*argv, "-o", str(tmp_path / "p.npy")])
    assert usage.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "p.npy changed since calspike wrote it" in error and "\n" not in error
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), traces)


def test_a_same_size_edit_whose_time_was_put_back_is_still_seen(spikefinder_data, tmp_path, capsys):
    """What `touch -r`, `cp -p` or `rsync -t` leave: size and time as calspike wrote them. The
    marker's size and time alone let the folder be replaced and the edit deleted (the probe);
    its SHA-256 tells."""
    predictions = tmp_path / "predictions"
    infer = ["infer", str(spikefinder_data), "--method", "oasis", "--no-progress"]
    assert main([*infer, "-o", str(predictions)]) == 0
    edited = next(predictions.glob("*.spikes.csv"))
    before = edited.stat()
    text = edited.read_text()
    changed = text[:-2] + ("1" if text[-2] != "1" else "2") + text[-1]
    edited.write_text(changed)
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert edited.stat().st_size == before.st_size
    err = _usage_error([*infer, "-o", str(predictions)], capsys)
    assert f"or that changed since ({edited.name})" in err and edited.read_text() == changed


def test_a_folder_marker_of_an_older_calspike_without_hashes_is_still_honoured(
    spikefinder_data, tmp_path
):
    """Markers written before hashes were recorded list [size, time]: still calspike's."""
    predictions = tmp_path / "predictions"
    infer = ["infer", str(spikefinder_data), "--method", "oasis", "--no-progress"]
    assert main([*infer, "-o", str(predictions)]) == 0
    marker = predictions / _targets.MARKER
    record = json.loads(marker.read_text())
    record["files"] = {name: entry[:2] for name, entry in record["files"].items()}
    marker.write_text(json.dumps(record))
    assert main([*infer, "-o", str(predictions)]) == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_where_a_listed_output_was_is_refused_without_being_opened(tmp_path, capsys):
    """The hash check must not open what stands at the output's place: a FIFO would block."""
    np.save(tmp_path / "t.npy", calspike.simulate(2, 300, 30.0, seed=0).calcium)
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--method", "oasis"]
    assert main([*argv, "-o", str(tmp_path / "p.npy")]) == 0
    (tmp_path / "p.npy").unlink()
    os.mkfifo(tmp_path / "p.npy")
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:
        main([*argv, "-o", str(tmp_path / "p.npy")])
    assert usage.value.code == 2 and "changed since calspike wrote it" in capsys.readouterr().err
    assert stat.S_ISFIFO((tmp_path / "p.npy").lstat().st_mode)


def test_lookalikes_of_calspikes_single_file_outputs_are_refused(tmp_path, capsys):
    """A file is calspike's by its recorded checksum, not by looking like calspike's output."""
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows)]) == 0
    log = tmp_path / "log.csv"
    log.write_text("epoch,my_loss\n1,0.5\n")
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({"windows": 3, "my": "notes"}))
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"prediction": "p", "dataset": "d", "neurons": 1}]))
    arrays = tmp_path / "mine.npz"
    np.savez(arrays, key="x", windows=np.ones((2, 3)), neuron=[0, 0], frame=[0, 1], params="{}")
    model = tmp_path / "mine.pt"
    torch.save({"format": 99, "kind": "classifier", "mine": torch.ones(3)}, model)
    before = _snapshot(tmp_path)
    m = str(tmp_path / "m.pt")
    for argv in (
        ["train", str(windows), "-o", m, "--history", str(log)],
        ["train", str(windows), "-o", str(model)],
        ["evaluate", m, str(windows), "--json", str(scores)],
        ["score", str(windows), str(windows), "--json", str(rows)],
        ["prepare", "-o", str(arrays)],
    ):
        assert "did not write" in _usage_error(argv, capsys), argv
    assert _snapshot(tmp_path) == before


def test_calspike_replaces_its_own_text_outputs_only_while_unedited(tmp_path, capsys):
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    history, scores = tmp_path / "h.csv", tmp_path / "s.json"
    train = ["train", str(windows), "-o", str(tmp_path / "m.pt"), "--history", str(history)]
    train += ["--epochs", "1", "--hidden", "8", "--max-windows", "500", "--no-progress"]
    evaluate = ["evaluate", str(tmp_path / "m.pt"), str(windows), "--json", str(scores)]
    assert main(train) == 0 and main(evaluate) == 0
    record = tmp_path / ".h.csv.calspike.json"
    assert json.loads(record.read_text())["sha256"] == [_io.file_digest(history)]
    assert main([*train, "--seed", "1"]) == 0 and main(evaluate) == 0  # its own: replaced
    capsys.readouterr()
    for path, argv in ((history, train), (scores, evaluate)):
        status = path.stat()
        text = path.read_text()
        path.write_text(text.replace("0", "1", 1))  # the same size, the time put back
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        assert "did not write" in _usage_error(argv, capsys)
        path.write_text(text)
    record.write_text("my notes")  # the record's place holds a user's file
    assert "not calspike's record" in _usage_error(train, capsys)
    assert record.read_text() == "my notes"


def test_a_run_killed_while_replacing_a_text_output_leaves_one_its_record_accepts(
    tmp_path, monkeypatch
):
    target = tmp_path / "scores.json"
    _io.write_recorded(target, "[1]")
    old = _io.file_digest(target)
    seen = []
    real = os.replace

    def replace(source, destination):  # what a run killed at the rename would leave
        if Path(destination) == target:
            seen.append(json.loads(_targets.record_of(target).read_text())["sha256"])
        real(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    _io.write_recorded(target, "[2]")
    new = _io.file_digest(target)
    assert seen == [[old, new]]  # before the rename: the old file and the new one accepted
    assert json.loads(_targets.record_of(target).read_text())["sha256"] == [new]


def test_replacing_an_unchanged_calspike_folder_reads_none_of_its_files(tmp_path, monkeypatch):
    target = tmp_path / "store.zarr"
    with _io.atomic_folder(target, "output", {"kind": "predictions"}) as folder:
        for k in range(3):
            (folder / f"chunk{k}").write_bytes(bytes(1000))
    hashed: list[Path] = []
    real = _targets._content_digest
    monkeypatch.setattr(
        _targets, "_content_digest", lambda path, mode: hashed.append(path) or real(path, mode)
    )
    _targets.check_folder_target(target, "output", "predictions")
    assert hashed == []  # its change times are the marker's: no file was touched
    chunk = target / "chunk1"
    status = chunk.stat()
    chunk.write_bytes(bytes(999) + b"x")  # the same size, the time put back
    os.utime(chunk, ns=(status.st_atime_ns, status.st_mtime_ns))
    with pytest.raises(_io.UsageError, match="chunk1"):
        _targets.check_folder_target(target, "output", "predictions")
    assert hashed == [chunk]


def test_an_array_declared_but_never_written_is_refused_before_any_work(tmp_path, capsys):
    """Before: a 10^6 x 10^7 HDF5 dataset of 2 kB started inference over 10^13 fill values."""
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    with h5py.File(tmp_path / "empty.h5", "w") as file:
        file.create_dataset("F", shape=(10**6, 10**7), dtype="f4", chunks=(10, 1000))
    zarr.open_array(str(tmp_path / "empty.zarr"), mode="w", shape=(1000, 10**7), dtype="f4")
    for source, said in (
        (f"{tmp_path / 'empty.h5'}:/F", "the dataset was never written"),
        (str(tmp_path / "empty.zarr"), "the array stores no chunk, so every value is its fill"),
    ):
        argv = ["infer", source, "--rate", "30", "-o", str(tmp_path / "out.npy")]
        assert main(argv) == 1
        assert f"{source}: {said}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.h5", "empty.zarr"]


def test_an_output_larger_than_the_free_space_is_refused_before_any_work(
    tmp_path, capsys, monkeypatch
):
    np.save(tmp_path / "t.npy", calspike.simulate(4, 1000, 30.0, seed=0).calcium)
    free = shutil.disk_usage(tmp_path)._replace(free=4 * 1000 * 4 - 1)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: free)
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "-o", str(tmp_path / "out.npy")]
    assert main([*argv, "--method", "oasis"]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'out.npy'}: 4 neurons x 1,000 frames" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npy"]


@pytest.mark.parametrize("where", ["checkpoint", "history"])
def test_a_file_put_at_an_output_while_calspike_works_is_not_replaced(
    tmp_path, capsys, monkeypatch, where
):
    """Before: the check ran only before the work, and the rename replaced what came since."""
    from calspike.tutorial import prepared

    windows, model, history = tmp_path / "w.npz", tmp_path / "m.pt", tmp_path / "h.csv"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    real = prepared.train_on_prepared

    def meanwhile(*args, **kwargs):
        (model if where == "checkpoint" else history).write_text("the user's file")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepared, "train_on_prepared", meanwhile)
    argv = ["train", str(windows), "-o", str(model), "--history", str(history)]
    argv += ["--epochs", "1", "--hidden", "8", "--max-windows", "500", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "was put or changed there while calspike worked" in err and len(err.splitlines()) == 1
    assert (model if where == "checkpoint" else history).read_text() == "the user's file"
    assert not [p for p in tmp_path.iterdir() if "calspike-part" in p.name]


def test_calspike_replaces_its_own_checkpoint_every_epoch_after_the_check(tmp_path):
    target = tmp_path / "m.pt"
    _targets.check_file_target(target, "-o")
    for epoch in range(3):  # each replacement moves the approved state along
        with _io.atomic_path(target) as temporary:
            temporary.write_text(f"epoch {epoch}")
    assert target.read_text() == "epoch 2"
    target.write_text("edited")
    with pytest.raises(OSError, match="while calspike worked"), _io.atomic_path(target) as t:
        t.write_text("epoch 3")
    assert target.read_text() == "edited"


def test_train_refuses_a_checkpoint_at_its_historys_record(tmp_path, capsys):
    """Before: the record replaced the checkpoint just written, and train said it wrote it."""
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    record = tmp_path / ".h.csv.calspike.json"
    argv = ["train", str(windows), "-o", str(record), "--history", str(tmp_path / "h.csv")]
    assert "would be one file" in _usage_error(argv, capsys)
    assert not record.exists()


def test_an_npz_or_checkpoint_with_bytes_added_outside_its_contents_is_refused(tmp_path, capsys):
    """Before: the checksum inside covered the arrays (the state) only, not the zip around them."""
    windows, model = tmp_path / "w.npz", tmp_path / "m.pt"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    train = ["train", str(windows), "-o", str(model), "--epochs", "1", "--hidden", "8"]
    assert main([*train, "--max-windows", "500", "--no-progress"]) == 0
    for path, argv in ((windows, ["prepare", "-o", str(windows)]), (model, train)):
        original = path.read_bytes()
        path.write_bytes(original + b"my notes")
        assert "did not write" in _usage_error(argv, capsys)
        path.write_bytes(original)
        with zipfile.ZipFile(path, "a") as archive:
            archive.comment = b"my notes"
        assert "did not write" in _usage_error(argv, capsys)
        assert zipfile.ZipFile(path).comment == b"my notes"


def test_a_checkpoint_with_a_file_added_inside_or_recompressed_is_not_calspikes(tmp_path):
    """Before: only the ends of the zip were looked at; its members' bytes went unseen."""
    from calspike.spikes.rate import default_model_path

    def rewritten(name: str, added: bytes | None = None, **changes: object) -> Path:
        path = tmp_path / name
        save_checkpoint(load_checkpoint(default_model_path()), path)  # with its record
        with zipfile.ZipFile(default_model_path()) as source, zipfile.ZipFile(path, "w") as out:
            for member in source.infolist():
                data = source.read(member.filename)
                for key, value in changes.items():
                    setattr(member, key, value)
                out.writestr(member, data)
                if added is not None and member.filename.endswith("/data.pkl"):
                    out.writestr(member.filename.replace("data.pkl", added.decode()), b"notes")
        return path

    ours = _targets.recorded_by_calspike
    assert not ours(rewritten("same.pt"))  # the same members, other bytes
    assert not ours(rewritten("notes.pt", added=b"user_notes.txt"))
    assert not ours(rewritten("storage.pt", added=b"data/999"))
    assert not ours(rewritten("commented.pt", comment=b"mine"))
    assert not ours(rewritten("deflated.pt", compress_type=zipfile.ZIP_DEFLATED))
    kept = tmp_path / "kept.pt"
    save_checkpoint(load_checkpoint(default_model_path()), kept)
    assert ours(kept)  # as calspike wrote it


def test_train_follows_links_to_its_historys_record(tmp_path, capsys):
    windows = tmp_path / "w.npz"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    (tmp_path / "self").symlink_to(".")
    argv = ["train", str(windows), "-o", str(tmp_path / "self" / ".h.csv.calspike.json")]
    assert "would be one file" in _usage_error(
        [*argv, "--history", str(tmp_path / "h.csv")], capsys
    )


def test_infer_replaces_only_a_sidecar_it_wrote_and_nobody_edited(tmp_path, capsys):
    """Before: any JSON object with "calspike" and "files" keys passed for infer's sidecar."""
    np.save(tmp_path / "t.npy", calspike.simulate(4, 1000, 30.0, seed=0).calcium)
    infer = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--method", "oasis", "-o"]
    looks = tmp_path / "q.npy.json"
    looks.write_text(json.dumps({"calspike": "my notes", "files": {"plan": "x"}}))
    assert "did not write" in _usage_error([*infer, str(tmp_path / "q.npy")], capsys)
    assert json.loads(looks.read_text())["calspike"] == "my notes"
    assert main([*infer, str(tmp_path / "p.npy")]) == 0
    assert main([*infer, str(tmp_path / "p.npy")]) == 0  # its own, unedited: replaced
    sidecar = tmp_path / "p.npy.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "my_notes": "keep"}))
    before = _snapshot(tmp_path)
    assert "did not write" in _usage_error([*infer, str(tmp_path / "p.npy")], capsys)
    assert _snapshot(tmp_path) == before


def _rezipped(source: Path, target: Path, trick: str) -> Path:
    """`source`'s members in a new zip, with a user's notes hidden in it by `trick`."""
    notes = b"MY PRIVATE NOTES " * 4
    with (
        zipfile.ZipFile(source) as old,
        open(target, "wb") as stream,
        zipfile.ZipFile(stream, "w") as new,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # zipfile warns of a repeated name
        members = old.infolist()
        for k, member in enumerate(members):
            info = zipfile.ZipInfo(member.filename, date_time=member.date_time)
            if trick == "twice" and k == 0:
                new.writestr(info, notes)  # hidden by the second member of that name
            if trick == "extra field" and k == 0:
                info.extra = len(notes).to_bytes(2, "little").join([b"\xfe\xca", notes])
            new.writestr(info, old.read(member.filename))
            if (trick == "between members" and k == 0) or (
                trick == "before the directory" and k == len(members) - 1
            ):
                stream.write(notes)
                new.start_dir = stream.tell()  # what comes next goes after the notes
    return target


@pytest.mark.parametrize(
    "trick",
    [
        "none",
        "rezipped",
        "between members",
        "before the directory",
        "extra field",
        "twice",
        "version field",
    ],
)
def test_a_npz_or_checkpoint_is_calspikes_only_byte_for_byte(tmp_path, capsys, trick):
    """Before: a .npz or .pt counted as calspike's when its arrays or state matched their own
    checksum and its zip looked plain, so notes hidden between its members, in a header
    field or in a second member of one name were replaced."""
    from calspike.spikes.rate import default_model_path

    windows, model = tmp_path / "w.npz", tmp_path / "m.pt"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    save_checkpoint(load_checkpoint(default_model_path()), model)
    for path in (windows, model):
        if trick == "version field":  # a header field no reader compares, in place
            with open(path, "r+b") as stream:
                stream.seek(4)
                stream.write(b"MY")
        elif trick != "none":
            _rezipped(shutil.copy(path, tmp_path / "copy"), path, trick)
        assert _targets.recorded_by_calspike(path) is (trick == "none")
    argv = ["prepare", "-o", str(windows), "--skip", "40"]
    if trick == "none":
        assert main(argv) == 0  # its own, unedited: replaced
    else:
        before = _snapshot(tmp_path)
        assert "did not write" in _usage_error(argv, capsys)
        assert _snapshot(tmp_path) == before


def test_a_folder_output_changed_while_calspike_works_is_kept_and_a_data_error(
    tmp_path, capsys, monkeypatch
):
    """Before: the check at the rename raised a usage error (exit 2, "before any work")."""
    pytest.importorskip("zarr")
    target = tmp_path / "store.zarr"
    real = _io.files_in

    def meanwhile(folder, *args, **kwargs):  # the work is done; the rename comes next
        if not target.exists():
            target.mkdir()
            (target / "notes.txt").write_text("mine")
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(_io, "files_in", meanwhile)
    assert main(["prepare", "-o", str(target), "--skip", "40"]) == 1
    err = capsys.readouterr().err
    assert "changed while calspike worked" in err and "did not write" in err, err
    assert len(err.splitlines()) == 1
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if "calspike-partial" in p.name]


def test_a_text_output_not_kept_at_the_rename_leaves_its_record_as_it_was(tmp_path):
    """Before: the record of a history that was never kept stayed beside the user's file."""
    target = tmp_path / "h.json"
    record = _targets.record_of(target)
    _targets.check_recorded_target(target, "--history")
    target.write_text("the user's")  # put there while calspike worked
    with pytest.raises(OSError, match="while calspike worked"):
        _io.write_recorded(target, "[1]")
    assert target.read_text() == "the user's" and not record.exists()
    target.unlink()
    _io.write_recorded(target, "[1]")
    kept = record.read_bytes()
    _targets.check_recorded_target(target, "--history")
    target.write_text("[9]")  # edited while calspike worked
    with pytest.raises(OSError, match="while calspike worked"):
        _io.write_recorded(target, "[2]")
    assert target.read_text() == "[9]" and record.read_bytes() == kept


def test_a_path_too_long_for_calspikes_names_beside_it_is_refused_before_any_work(tmp_path, capsys):
    """Before: a 4,090-byte --json path was found too long only after the scores were made."""
    folder = tmp_path
    while len(os.fsencode(str(folder))) < 3700:
        folder = folder / ("d" * 200)
    folder = folder / ("e" * (3890 - len(os.fsencode(str(folder))) - 1))
    folder.mkdir(parents=True)
    target = folder / ("s" * 194 + ".json")
    assert len(os.fsencode(str(target))) == 4090
    recording = calspike.simulate(2, 500, 30.0, seed=0)
    np.save(tmp_path / "truth.npy", recording.spikes)
    np.save(tmp_path / "pred.npy", recording.spikes)
    argv = ["score", str(tmp_path / "truth.npy"), str(tmp_path / "pred.npy"), "--rate", "30"]
    assert "choose a shorter path" in _usage_error([*argv, "--json", str(target)], capsys)
    assert list(folder.iterdir()) == []


def test_a_pending_sidecar_lets_infer_replace_only_the_outputs_it_lists(
    tmp_path, capsys, monkeypatch
):
    """Before: a sidecar left pending by a killed run listed no digest, so a file the user put
    at the output afterwards was replaced."""
    from calspike.spikes import files

    np.save(tmp_path / "t.npy", calspike.simulate(4, 1000, 30.0, seed=0).calcium)
    output = tmp_path / "out.npy"
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--method", "oasis", "-o"]
    real = files.write_text

    def killed(path, text):  # after the output's rename, before the finished sidecar
        if '"pending"' not in text:
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(files, "write_text", killed)
    assert main([*argv, str(output)]) == 130
    monkeypatch.setattr(files, "write_text", real)
    assert "pending" in json.loads((tmp_path / "out.npy.json").read_text())
    mine = output.read_bytes()
    assert main([*argv, str(output)]) == 0  # the output the pending sidecar lists: replaced
    assert output.read_bytes() == mine  # (the same spikes again)
    monkeypatch.setattr(files, "write_text", killed)
    assert main([*argv, str(output)]) == 130
    monkeypatch.setattr(files, "write_text", real)
    np.save(output, np.full((2, 2), 7.0))  # the user's file, put there since
    before = _snapshot(tmp_path)
    assert "changed since calspike wrote it" in _usage_error([*argv, str(output)], capsys)
    assert _snapshot(tmp_path) == before


def test_a_sidecar_naming_a_key_twice_is_not_calspikes(tmp_path, capsys):
    """Before: the first of two values of one key was a place for notes that nothing checked."""
    np.save(tmp_path / "t.npy", calspike.simulate(4, 1000, 30.0, seed=0).calcium)
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--method", "oasis"]
    assert main([*argv, "-o", str(tmp_path / "out.npy")]) == 0
    sidecar = tmp_path / "out.npy.json"
    sidecar.write_text(
        sidecar.read_text().replace('"method"', '"method": "my notes",\n  "method"', 1)
    )
    before = _snapshot(tmp_path)
    assert "did not write" in _usage_error([*argv, "-o", str(tmp_path / "out.npy")], capsys)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("marker", ["", '{"kind": "predictions"}', "[" * 100_000 + "]" * 100_000])
def test_a_calspike_folder_whose_marker_lists_no_files_keeps_the_users_files(tmp_path, marker):
    """Before: an emptied or cut marker counted as listing nothing changed, and the folder
    was replaced whole with the files a user had added (a nested one was a traceback)."""
    target = tmp_path / "out"
    with _io.atomic_folder(target, "output", {"kind": "predictions"}) as folder:
        (folder / "spikes.csv").write_text("1,2\n")
    _targets.check_folder_target(target, "output", "predictions")  # calspike's: replaceable
    (target / _targets.MARKER).write_text(marker)
    (target / "notes.txt").write_text("mine")
    with pytest.raises(_io.UsageError, match="lists no files"):
        _targets.check_folder_target(target, "output", "predictions")
    (target / "notes.txt").unlink()
    (target / "spikes.csv").unlink()
    _targets.check_folder_target(target, "output", "predictions")  # the marker alone: replaced


def test_deeply_nested_json_where_calspike_expects_its_own_is_one_line(tmp_path, capsys):
    """Before: a RecursionError traceback from infer's sidecar check, a bare message in score."""
    recording = calspike.simulate(4, 1000, 30.0, seed=0)
    np.save(tmp_path / "t.npy", recording.calcium)
    np.save(tmp_path / "truth.npy", recording.spikes)
    np.save(tmp_path / "p.npy", recording.spikes)
    nested = "[" * 200_000 + "]" * 200_000
    (tmp_path / "out.npy.json").write_text(nested)
    infer = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--method", "oasis"]
    err = _usage_error([*infer, "-o", str(tmp_path / "out.npy")], capsys)
    assert "did not write" in err and len(err.splitlines()) == 1
    (tmp_path / "p.npy.json").write_text('{"files": ' + nested + "}")
    assert main(["score", str(tmp_path / "truth.npy"), str(tmp_path / "p.npy")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'p.npy.json'}: not a readable calspike sidecar" in err, err


def test_a_config_nested_past_the_stack_is_a_usage_error(tmp_path, capsys):
    """Before: tomllib's RecursionError reached the user as a traceback."""
    config = tmp_path / "c.toml"
    config.write_text("threads = " + "[" * 100_000 + "]" * 100_000)
    err = _usage_error(["prepare", "-o", str(tmp_path / "w.npz"), "--config", str(config)], capsys)
    assert f"{config}: not valid TOML (nested too deeply)" in err and len(err.splitlines()) == 1


def _resealed(source: Path, target: Path, **changes: object) -> Path:
    """A copy of the checkpoint `source` with `changes` made and a checksum that matches."""
    state = load_checkpoint(source)
    for key, value in changes.items():
        if key.startswith("extra."):
            state["extra"] = {**state["extra"], key[len("extra.") :]: value}
        else:
            state[key] = value
    save_checkpoint(state, target)
    return target


def test_a_checkpoint_whose_checksum_holds_but_whose_fields_do_not_is_named(tmp_path, capsys):
    """Before: a sealed checkpoint with a list for 'extra', NaN weights or a NaN count_scale
    gave bare Python messages, or all-NaN spikes with exit 0."""
    from calspike.spikes.rate import default_model_path

    np.save(tmp_path / "t.npy", calspike.simulate(4, 1000, 30.0, seed=0).calcium)
    weights = load_checkpoint(default_model_path())["model"]
    nan_weights = {k: v.clone() for k, v in weights.items()}
    next(iter(nan_weights.values())).fill_(float("nan"))
    for name, changes, said in (
        ("extra.pt", {"extra": [1]}, "'extra' is list, not dict"),
        ("nan.pt", {"model": nan_weights}, "holds NaN or infinite values"),
        ("scale.pt", {"extra.count_scale": float("nan")}, "count_scale must be a number"),
        ("epoch.pt", {"epoch": -5}, "'epoch' is negative"),
    ):
        model = _resealed(default_model_path(), tmp_path / name, **changes)
        argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--model", str(model)]
        assert main([*argv, "-o", str(tmp_path / "o.npy")]) == 1
        err = capsys.readouterr().err
        assert f"{model}: " in err and said in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.npy").exists()


def test_resume_and_evaluate_name_a_checkpoint_they_cannot_use(tmp_path, capsys):
    """Before: 'list' object has no attribute 'get', 'fit', or 9 epochs run of 3 asked for."""
    windows, model = tmp_path / "w.npz", tmp_path / "m.pt"
    assert main(["prepare", "-o", str(windows), "--skip", "40"]) == 0
    train = ["train", str(windows), "-o", str(model), "--epochs", "2", "--hidden", "8"]
    train += ["--max-windows", "500", "--no-progress"]
    assert main(train) == 0
    saved = tmp_path / "saved.pt"
    shutil.copy(model, saved)
    for changes, said in (
        ({"optimizer": {"state": 5}}, "cannot resume from this checkpoint"),
        ({"epoch": 10**6}, "the checkpoint is at epoch 1000000, beyond the 2 epochs"),
    ):
        _resealed(saved, model, **changes)
        assert main([*train, "--resume"]) == 1
        err = capsys.readouterr().err
        assert f"{model}: {said}" in err and len(err.splitlines()) == 1, err
    _resealed(saved, model, **{"extra.features": ["bogus"]})
    assert main(["evaluate", str(model), str(windows)]) == 1
    err = capsys.readouterr().err
    assert f"{model}: its record of training" in err and len(err.splitlines()) == 1, err


def test_empty_arrays_series_and_half_suite2p_planes_are_named(tmp_path, capsys):
    """Before: a (0, 0) .npy gave a (0, 0) output with exit 0, --series on a .npy was ignored,
    and a plane without F.npy was said to lack SpikeFinder CSVs."""
    np.save(tmp_path / "empty.npy", np.zeros((0, 0), np.float32))
    infer = ["infer", str(tmp_path / "empty.npy"), "--rate", "30", "--method", "oasis", "-o"]
    assert main([*infer, str(tmp_path / "o.npy")]) == 1
    assert "empty.npy: holds no traces (shape (0, 0))" in capsys.readouterr().err
    np.save(tmp_path / "t.npy", calspike.simulate(2, 500, 30.0, seed=0).calcium)
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "-o", str(tmp_path / "o.npy")]
    assert "--series names a series of an NWB input" in _usage_error(
        [*argv, "--series", "F"], capsys
    )
    plane = tmp_path / "plane0"
    plane.mkdir()
    np.save(plane / "Fneu.npy", np.zeros((2, 500), np.float32))
    assert main(["infer", str(plane), "--rate", "30", "-o", str(tmp_path / "p.npy")]) == 1
    assert "a suite2p plane (Fneu.npy) without F.npy" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.npy", "plane0", "t.npy"]


def test_a_plain_pickle_given_as_a_model_is_one_line(tmp_path, capsys):
    """Before: torch's warning about the pickle protocol came first, then calspike's error."""
    import pickle

    model = tmp_path / "evil.pt"
    model.write_bytes(pickle.dumps({"kind": "SpikeRateModel"}, protocol=4))
    np.save(tmp_path / "t.npy", calspike.simulate(2, 500, 30.0, seed=0).calcium)
    argv = ["infer", str(tmp_path / "t.npy"), "--rate", "30", "--model", str(model)]
    assert main([*argv, "-o", str(tmp_path / "o.npy")]) == 1
    err = capsys.readouterr().err
    assert str(model) in err and len(err.splitlines()) == 1, err
