"""Inference on Dask: lazy arrays, and `calspike infer --workers/--scheduler` on real local clusters
of worker processes, with results identical to one process and a lost worker's chunks redone."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import calspike
from calspike.cli import main

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

CHUNK = 3  # neurons per task


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    calcium = calspike.simulate(10, 1200, 30.0, seed=8).calcium
    np.save(folder / "traces.npy", calcium)
    reference = {}
    for method in ("model", "oasis"):  # one process, the same chunks of neurons
        calspike.infer(
            folder / "traces.npy",
            folder / f"{method}.npy",
            rate=30.0,
            method=method,
            chunk_neurons=CHUNK,
        )
        reference[method] = np.load(folder / f"{method}.npy")
    return folder, calcium, reference


def _cluster(workers: int):
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    return cluster, distributed.Client(cluster)


@pytest.mark.parametrize("method", ["model", "oasis"])
def test_lazy_dask_inference_equals_one_process(traces, method):
    _, calcium, reference = traces
    lazy = calspike.dask.infer(
        da.from_array(calcium, chunks=(CHUNK, 400)), rate=30.0, method=method
    )
    assert lazy.chunks[0] == (3, 3, 3, 1) and lazy.dtype == np.float32
    assert np.array_equal(lazy.compute(scheduler="threads"), reference[method], equal_nan=True)


def test_dask_partition_gives_the_windows_of_each_chunk():
    import dask

    recording = calspike.simulate(5, 800, 30.0, seed=2)
    parts = calspike.dask.partition(
        da.from_array(recording.calcium, chunks=(2, 800)),
        30.0,
        spikes=da.from_array(recording.spikes, chunks=(2, 800)),
    )
    windows = dask.compute(*parts, scheduler="threads")
    whole = calspike.partition([recording])
    assert sum(len(w) for w in windows) == len(whole)
    assert np.array_equal(np.concatenate([w.windows for w in windows]), whole.windows)
    assert np.array_equal(np.concatenate([w.did_spike for w in windows]), whole.did_spike)


def test_workers_1_2_and_4_give_the_single_process_result(traces, tmp_path):
    folder, _, reference = traces
    for workers in (1, 2, 4):
        out = tmp_path / f"w{workers}.npy"
        assert (
            main(
                [
                    "infer",
                    str(folder / "traces.npy"),
                    "-o",
                    str(out),
                    "--rate",
                    "30",
                    "--chunk-neurons",
                    str(CHUNK),
                    "--workers",
                    str(workers),
                    "--no-progress",
                ]
            )
            == 0
        )
        assert np.array_equal(np.load(out), reference["model"], equal_nan=True), workers
        sidecar = json.loads((tmp_path / f"w{workers}.npy.json").read_text())
        assert len(sidecar["recordings"][0]["noise_level"]) == 10


def test_an_existing_cluster_by_address_and_a_lost_worker(traces, tmp_path):
    from calspike.spikes.distributed import model_payload, run_chunks

    folder, calcium, reference = traces
    cluster, client = _cluster(2)
    try:
        out = tmp_path / "spikes.zarr"
        # this cluster's workers keep Dask's MALLOC_TRIM_THRESHOLD_=65536, which slows PyTorch: said
        with pytest.warns(UserWarning, match="2 Dask worker.*MALLOC_TRIM_THRESHOLD_ below 1 MiB"):
            assert (
                main(
                    [
                        "infer",
                        str(folder / "traces.npy"),
                        "-o",
                        str(out),
                        "--rate",
                        "30",
                        "--method",
                        "oasis",
                        "--chunk-neurons",
                        str(CHUNK),
                        "--scheduler",
                        cluster.scheduler_address,
                    ]
                )
                == 0
            )
        zarr = pytest.importorskip("zarr")
        assert np.array_equal(
            np.asarray(zarr.open_array(str(out), mode="r")[:]), reference["oasis"], equal_nan=True
        )

        # a worker dies while chunks are in flight: Dask reruns them, each chunk lands once
        settings = {
            "rate": 30.0,
            "method": "oasis",
            "p": 1,
            "device": "cpu",
            "threads": 1,
            "chunk_neurons": CHUNK,
        }
        chunks = ((start, calcium[start : start + CHUNK]) for start in range(0, 10, CHUNK))
        results = run_chunks(client, chunks, model_payload("oasis", None), settings, in_flight=4)
        got = [next(results)]
        victim = min(client.scheduler_info()["workers"])
        client.run(os._exit, 1, workers=[victim], on_error="ignore")
        got += list(results)
        assert [start for start, _, _ in got] == [0, 3, 6, 9]
        assert np.array_equal(
            np.concatenate([spikes for _, spikes, _ in got]), reference["oasis"], equal_nan=True
        )
    finally:
        client.close()
        cluster.close()


def test_local_workers_start_without_dasks_small_malloc_trim_threshold():
    from calspike.spikes.distributed import _worker_trim, client_for

    client = client_for(None, 2)
    try:
        assert set(client.run(_worker_trim).values()) == {
            None
        }  # glibc's own, as in a plain process
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    _, plain = _cluster(1)  # what Dask's nanny does by default
    try:
        assert set(plain.run(_worker_trim).values()) == {"65536"}
    finally:
        cluster = plain.cluster
        plain.close()
        cluster.close()


def test_cluster_options_are_checked(traces, tmp_path, capsys):
    folder, _, _ = traces
    with pytest.raises(SystemExit) as code:
        main(["infer", str(folder / "traces.npy"), "-o", str(tmp_path / "o.npy"), "--workers", "0"])
    assert code.value.code == 2
    spikefinder_like = tmp_path / "1.train.calcium.csv"
    spikefinder_like.write_text("0\n1.0\n2.0\n")
    with pytest.raises(SystemExit) as code:
        main(["infer", str(spikefinder_like), "-o", str(tmp_path / "o.csv"), "--workers", "2"])
    assert code.value.code == 2
    assert "need a .npy, .zarr or HDF5 input" in capsys.readouterr().err
