"""zarr arrays and HDF5 datasets (e.g. CaImAn's estimates/F_dff) streamed through `calspike infer`,
and outputs written to .zarr or .npy chunk by chunk, whole or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

import calspike
from calspike.cli import main

zarr = pytest.importorskip("zarr")
h5py = pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def traces() -> np.ndarray:
    return calspike.simulate(7, 900, 30.0, seed=5).calcium


@pytest.fixture(scope="module")
def reference(traces, tmp_path_factory) -> dict[str, np.ndarray]:
    """What infer gives for the same traces as a plain .npy, per method."""
    folder = tmp_path_factory.mktemp("reference")
    np.save(folder / "traces.npy", traces)
    out = {}
    for method in ("model", "oasis"):
        calspike.infer(folder / "traces.npy", folder / f"{method}.npy", rate=30.0, method=method)
        out[method] = np.load(folder / f"{method}.npy")
    return out


def _zarr_input(path, traces, rate=30.0):
    array = zarr.open_array(
        str(path), mode="w", shape=traces.shape, chunks=(3, traces.shape[1]), dtype="float32"
    )
    array[:] = traces
    if rate is not None:
        array.attrs["rate"] = rate
    return path


def test_zarr_in_zarr_out_matches_the_in_memory_result(traces, reference, tmp_path):
    source = _zarr_input(tmp_path / "traces.zarr", traces)
    out = tmp_path / "spikes.zarr"
    assert (
        main(["infer", str(source), "-o", str(out), "--chunk-neurons", "2", "--no-progress"]) == 0
    )
    result = zarr.open_array(str(out), mode="r")
    # chunks of 2 neurons, not 7: the model's batches differ, so its float rounding may too
    np.testing.assert_allclose(np.asarray(result[:]), reference["model"], rtol=1e-5, atol=1e-8)
    assert result.attrs["rate"] == 30.0 and result.attrs["unit"] == "spikes per frame"
    sidecar = json.loads((tmp_path / "spikes.zarr.json").read_text())
    assert sidecar["recordings"][0]["neurons"] == 7 and "spikes.zarr" in sidecar["files"]
    # a second run may replace what calspike wrote
    assert main(["infer", str(source), "-o", str(out), "--method", "oasis", "--no-progress"]) == 0
    assert np.allclose(
        np.asarray(zarr.open_array(str(out), mode="r")[:]), reference["oasis"], equal_nan=True
    )


def test_caiman_hdf5_dataset_with_its_frame_rate(traces, reference, tmp_path):
    path = tmp_path / "caiman_results.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("estimates/F_dff", data=traces.astype(np.float64))
        f.create_dataset("params/data/fr", data=30.0)
    out = tmp_path / "spikes.npy"
    assert main(["infer", f"{path}:/estimates/F_dff", "-o", str(out), "--method", "oasis"]) == 0
    assert np.allclose(np.load(out), reference["oasis"], equal_nan=True)
    assert main(["infer", f"{path}:estimates/F_dff", "-o", str(tmp_path / "s.zarr")]) == 0
    assert np.array_equal(
        np.asarray(zarr.open_array(str(tmp_path / "s.zarr"), mode="r")[:]),
        reference["model"],
        equal_nan=True,
    )


def test_an_interrupted_zarr_output_leaves_nothing(traces, tmp_path, monkeypatch):
    from calspike.spikes.oasis_method import OasisMethod

    source = _zarr_input(tmp_path / "traces.zarr", traces)
    calls = []
    real = OasisMethod.__call__

    def failing(self, recording):
        calls.append(recording.neurons)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return real(self, recording)

    monkeypatch.setattr(OasisMethod, "__call__", failing)
    with pytest.raises(RuntimeError, match="worker lost"):
        calspike.infer(source, tmp_path / "spikes.zarr", chunk_neurons=3, method="oasis")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces.zarr"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_rate", "stores no frame rate: give it (--rate"),
        ("no_dataset", "no dataset /missing"),
        ("three_d", "expected (neurons, frames)"),
    ],
)
def test_bad_chunked_input_is_named(tmp_path, traces, case, message):
    if case == "no_rate":
        source = str(_zarr_input(tmp_path / "t.zarr", traces, rate=None))
    else:
        path = tmp_path / "t.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset(
                "cube",
                data=np.zeros((2, 3, 4), np.float32),
            )
            f["cube"].attrs["rate"] = 30.0
        source = f"{path}:/missing" if case == "no_dataset" else f"{path}:/cube"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        calspike.infer(source, tmp_path / "out.npy")
    assert source.split(":")[0].rsplit("/", 1)[-1] in str(error.value)


def test_a_zarr_array_with_a_pickle_codec_is_refused_unread(tmp_path):
    numcodecs = pytest.importorskip("numcodecs")
    path = tmp_path / "pickled.zarr"
    array = zarr.open_array(
        str(path),
        mode="w",
        shape=(2, 10),
        dtype="float64",
        chunks=(2, 10),
        zarr_format=2,
        filters=[numcodecs.Pickle()],
    )
    array[:] = np.zeros((2, 10))
    with pytest.raises(calspike.DataError, match="pickle"):
        calspike.infer(path, tmp_path / "out.npy", rate=30.0)
    assert not (tmp_path / "out.npy").exists()


def test_a_missing_extra_names_what_to_install(monkeypatch, tmp_path):
    import importlib

    from calspike._optional import MissingExtra, require

    real = importlib.import_module

    def without_zarr(name, *args):
        if name == "zarr":
            raise ImportError("No module named 'zarr'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_zarr)
    with pytest.raises(MissingExtra, match=r"pip install 'calspike\[zarr\]'"):
        require("zarr", "reading t.zarr")
    source = tmp_path / "t.zarr"
    source.mkdir()
    assert (
        main(["infer", str(source), "-o", str(tmp_path / "o.npy"), "--rate", "30"]) == 2
    )  # a usage error
