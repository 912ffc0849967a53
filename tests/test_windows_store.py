"""Windows in a zarr store: written a block of neurons at a time by `calspike prepare -o X.zarr`,
read a batch at a time by `calspike train` and `calspike evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import calspike
from calspike.cli import main
from calspike.training import BatchSource, fit
from calspike.tutorial.stored import StoreBatches, train_from_store
from calspike.tutorial.workflows import explained_variance
from calspike.windows import sampling
from calspike.windows.zarr_store import (
    StoredWindows,
    array_blocks,
    recording_blocks,
    write_windows_store,
)

zarr = pytest.importorskip("zarr")

SETTINGS = {"len_pre": 10, "len_post": 10, "skip": 10, "spike_n": 2, "normalize": "neuron"}


@pytest.fixture(scope="module")
def recordings() -> list[calspike.Recording]:
    return [calspike.simulate(5, 3_000, 30.0, seed=1), calspike.simulate(3, 2_000, 30.0, seed=2)]


def _store(folder, recordings, chunk_windows=97, neurons_per_block=2) -> StoredWindows:
    write_windows_store(
        recording_blocks(recordings, neurons_per_block=neurons_per_block, **SETTINGS),
        folder,
        chunk_windows=chunk_windows,
    )
    return StoredWindows(folder)


def test_a_store_written_in_blocks_holds_exactly_the_in_memory_windows(tmp_path, recordings):
    store = _store(tmp_path / "w.zarr", recordings)
    whole = calspike.partition(recordings, **SETTINGS)
    assert len(store) == len(whole) and store.neuron_names == whole.neuron_names
    np.testing.assert_array_equal(store.neuron, whole.neuron)
    np.testing.assert_array_equal(store.frame, whole.frame)
    np.testing.assert_array_equal(store.did_spike, whole.did_spike)
    assert store.params == whole.params
    scrambled = np.random.default_rng(0).permutation(len(whole))[:500]
    np.testing.assert_array_equal(
        store.read(scrambled), whole.windows[scrambled]
    )  # any order, bit for bit
    np.testing.assert_array_equal(store.load().windows, whole.windows)
    with pytest.raises(IndexError):
        store.read(np.array([len(store)]))


def test_a_chunked_array_is_cut_a_block_at_a_time(tmp_path, recordings):
    traces = np.array(recordings[0].calcium)
    traces[3, 15:] = np.nan  # too short for a window: skipped, and named by its place in the file
    np.save(tmp_path / "traces.npy", traces)
    write_windows_store(
        array_blocks(tmp_path / "traces.npy", neurons_per_block=2, **SETTINGS), tmp_path / "a.zarr"
    )
    store = StoredWindows(tmp_path / "a.zarr")
    whole = calspike.partition(traces, **SETTINGS)
    assert store.did_spike is None and store.neuron_names == tuple(f"traces/{n}" for n in range(5))
    np.testing.assert_array_equal(store.load().windows, whole.windows)
    np.testing.assert_array_equal(store.neuron, whole.neuron)
    assert store.skipped.tolist() == whole.skipped.tolist() == [3]


def test_an_epoch_reads_each_chunk_once_in_a_seeded_order(tmp_path, recordings):
    reference = _store(tmp_path / "w.zarr", recordings, chunk_windows=50)
    store = StoredWindows(tmp_path / "w.zarr", cache_chunks=1)
    index = np.random.default_rng(1).choice(len(store), 1_200, replace=False)
    source = StoreBatches(store, index, ["raw", "delta"], labels=True, buffer_chunks=3)
    assert isinstance(source, BatchSource)
    order = source.epoch_order(torch.Generator().manual_seed(4))
    assert sorted(order.tolist()) == list(range(index.size))  # a permutation
    assert torch.equal(order, source.epoch_order(torch.Generator().manual_seed(4)))
    assert not torch.equal(order, source.epoch_order(torch.Generator().manual_seed(5)))
    for start in range(0, index.size, 64):
        x, y = source.take(order[start : start + 64].numpy())
        rows = source.index[order[start : start + 64].numpy()]
        np.testing.assert_array_equal(x[..., 0].numpy(), reference.load(rows).windows)
        np.testing.assert_array_equal(y.numpy(), reference.did_spike[rows])
        assert len(store._cache) <= 2 * 3  # memory holds at most two groups of chunks
    assert store.chunks_read == np.unique(index // 50).size  # every chunk decoded once
    np.testing.assert_array_equal(
        source.index, np.sort(index)
    )  # scoring reads in store order: once too
    read_before = store.chunks_read
    for start in range(0, index.size, 64):
        source.take(np.arange(start, min(start + 64, index.size)))
    assert store.chunks_read - read_before <= np.unique(index // 50).size


def test_training_from_a_store_reads_batches_and_learns(tmp_path, recordings, monkeypatch):
    store = _store(
        tmp_path / "w.zarr", [calspike.simulate(12, 3_000, 30.0, seed=3)], chunk_windows=256
    )
    monkeypatch.setattr(
        StoredWindows, "load", lambda *a, **k: pytest.fail("the whole store was loaded")
    )
    split = sampling.neuron_split(store, 0)
    train = sampling.labelled_subset(store, split["train"], seed=0)
    val = sampling.labelled_subset(store, split["val"], seed=0)
    settings = {
        "seed": 0,
        "hidden": 16,
        "latent": 4,
        "beta": 1e-4,
        "epochs": 3,
        "batch_size": 64,
        "lr": 3e-3,
        "patience": 3,
        "device": "cpu",
    }
    torch.set_num_threads(1)
    result = train_from_store(
        store,
        train,
        val,
        model="classifier",
        kinds=["raw", "delta"],
        settings=settings,
        output=tmp_path / "m.pt",
        extra={},
        resume=False,
        progress=False,
    )
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"] and last["val_accuracy"] > 0.6
    again = train_from_store(
        store,
        train,
        val,
        model="classifier",
        kinds=["raw", "delta"],
        settings=settings,
        output=tmp_path / "m2.pt",
        extra={},
        resume=False,
        progress=False,
    )
    assert again.history == [
        dict(r, seconds=a["seconds"]) for r, a in zip(result.history, again.history, strict=True)
    ]
    with pytest.raises(ValueError, match="y must be None"):
        fit(
            result.model,
            StoreBatches(store, train, ["raw", "delta"], labels=True),
            np.zeros(train.size),
        )


def test_prepare_train_evaluate_through_a_store(tmp_path, capsys):
    store = tmp_path / "windows.zarr"
    assert main(["prepare", "-o", str(store), "--normalize", "neuron"]) == 0
    assert "windows of" in capsys.readouterr().out and (store / ".calspike-output.json").is_file()
    whole = calspike.partition(calspike.default_recordings(0), normalize="neuron")
    assert len(StoredWindows(store)) == len(whole)
    checkpoint = tmp_path / "classifier.pt"
    assert (
        main(
            [
                "train",
                str(store),
                "-o",
                str(checkpoint),
                "--epochs",
                "2",
                "--hidden",
                "16",
                "--max-windows",
                "4000",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "2 epochs" in capsys.readouterr().out
    assert main(["evaluate", str(checkpoint), str(store), "--json", str(tmp_path / "s.json")]) == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    state = calspike.training.load_checkpoint(checkpoint)
    held_out = set(state["extra"]["neurons"]["test"])
    assert scores["windows"] == sum(whole.neuron_names[n] in held_out for n in whole.neuron)
    assert 0.6 < scores["balanced_accuracy"] <= 1
    vae = tmp_path / "vae.pt"
    assert (
        main(
            [
                "train",
                str(store),
                "--model",
                "vae",
                "-o",
                str(vae),
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--latent",
                "4",
                "--max-windows",
                "2000",
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", str(vae), str(store)]) == 0
    printed = float(capsys.readouterr().out.split("explained_variance:")[1].split()[0])
    stored = StoredWindows(store)
    held_out = set(calspike.training.load_checkpoint(vae)["extra"]["neurons"]["test"])
    test = np.flatnonzero([stored.neuron_names[n] in held_out for n in stored.neuron])
    in_memory = explained_variance(
        calspike.training.load_model(vae), stored.load(test), ["raw", "delta", "quad"]
    )
    assert printed == pytest.approx(in_memory, abs=1e-4)  # streamed sums, same number as in memory
    # prepare again over its own store: replaced whole
    assert main(["prepare", "-o", str(store), "--skip", "20"]) == 0
    assert StoredWindows(store).params["skip"] == 20
    # windows cut otherwise than the model was trained on: named, not a shape error from torch
    capsys.readouterr()
    assert main(["evaluate", str(vae), str(store)]) == 1
    err = capsys.readouterr().err
    assert "other window settings" in err and "skip 20 (trained: 10)" in err


def test_a_store_is_never_written_over_a_users_folder_and_bad_stores_are_named(tmp_path, capsys):
    mine = tmp_path / "mine.zarr"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(SystemExit) as code:
        main(["prepare", "-o", str(mine)])
    assert code.value.code == 2 and (mine / "notes.txt").read_text() == "keep"
    capsys.readouterr()
    assert main(["train", str(mine), "-o", str(tmp_path / "m.pt")]) == 1
    assert "not a calspike windows store" in capsys.readouterr().err
    np.save(tmp_path / "t.npy", calspike.simulate(3, 1_000, 30.0, seed=0).calcium)
    assert main(["prepare", "--data", str(tmp_path / "t.npy"), "-o", str(tmp_path / "u.zarr")]) == 0
    assert main(["train", str(tmp_path / "u.zarr"), "-o", str(tmp_path / "m.pt")]) == 1
    assert "no spike labels" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()
