"""`calspike run`: the whole pipeline writes a complete, consistent, reproducible report."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest

import calspike
from calspike.cli import main
from calspike.training import load_model
from calspike.tutorial.plots import FIGURES

# a quick run made smaller still: the test checks the pipeline, not the models' quality
SMALL = ["--quick", "--epochs", "2", "--vae-epochs", "2", "--max-windows", "3000", "--no-progress"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: set[str] = set()
        self.links: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "figure":
            self.figures.add(attributes["id"])
        if tag == "img":
            assert attributes["src"].startswith("data:image/png;base64,")
        if tag == "a":
            self.links.add(attributes["href"])

    def handle_data(self, data):
        self.text.append(data)


def _check_report(folder: Path, tutorial: bool = False) -> dict:
    # the decoding figure differs by mode: the tutorial's coef_, or calspike's probe direction
    figures = set(FIGURES) - ({"probe_traces"} if tutorial else {"tutorial_decoding"})
    assert {"generated", "traversal", "confusion"} <= figures
    for name in figures:
        png = folder / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.01, name
    assert {p.stem for p in (folder / "figures").iterdir()} == figures
    page = _Page()
    page.feed((folder / "index.html").read_text())
    page.close()
    assert page.figures == figures
    assert {f"figures/{name}.png" for name in figures} <= page.links
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["mode"] == ("tutorial" if tutorial else "calspike")
    text = " ".join(" ".join(page.text).split())
    cvae = metrics["conditional_vae"]
    for number in (
        metrics["classifier"]["balanced_accuracy"],
        metrics["logistic_regression"]["balanced_accuracy"],
        metrics["svm"]["test_balanced_accuracy"],
        metrics["classifier"]["roc_auc"],
        *metrics["svm"]["confusion"][0],
        *metrics["svm"]["confusion"][1],
        *metrics["classifier"]["confusion"][0],
        *metrics["classifier"]["confusion"][1],
        cvae["generated_spike_rise"],
        cvae["generated_no_spike_rise"],
        cvae["real_spike_rise"],
        cvae["real_spike_rise_sd"],
        cvae["real_no_spike_rise"],
        cvae["svm_test_balanced_accuracy"],
        cvae["svm_test_balanced_accuracy_on_draws"],
        metrics["svm"]["test_balanced_accuracy_on_draws"],
    ):
        assert f"{number:.3f}" in text, number
    assert sum(map(sum, metrics["svm"]["confusion"])) == pytest.approx(1.0)
    assert f"{100 * metrics['vae']['explained_variance']:.1f}%" in text
    assert f"{100 * cvae['explained_variance']:.1f}%" in text
    assert "Departures from the tutorial" in text
    from calspike.tutorial.departures import DEPARTURES

    assert all(d.topic in text for d in DEPARTURES)
    assert set(metrics["timings_s"]) >= {"recordings", "LSTM classifier", "calcium VAE", "total"}
    settings = json.loads((folder / "config.json").read_text())
    assert settings["seed"] == 0 and "epochs" in settings
    from calspike import config

    used = set(
        config.COMMANDS["run"]
    )  # every setting the run used, the toy VAE's included, is listed
    assert used <= set(settings), sorted(used - set(settings))
    page_text = (folder / "index.html").read_text()
    assert all(f"<td>{name}</td>" in page_text for name in used), "the page's settings table"
    for model in ("classifier", "vae", "toy_vae"):
        load_model(folder / "models" / f"{model}.pt")
    assert load_model(folder / "models" / "conditional_vae.pt").conditional
    split = metrics["split"]
    assert not (set(split["train"]) & set(split["test"]) or set(split["val"]) & set(split["test"]))
    return metrics


def _without_timings(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "timings_s"}


def test_quick_run_on_simulated_data_is_complete_and_reproducible(tmp_path, capsys):
    assert main(["run", "-o", str(tmp_path / "a"), *SMALL]) == 0
    assert "balanced accuracy" in capsys.readouterr().out
    first = _check_report(tmp_path / "a")
    assert (
        first["source"] == "simulated" and len(first["vae"]["latent_pca_explained_variance"]) == 10
    )
    assert first["classifier"]["balanced_accuracy"] > 0.6  # the simulated spikes are learnable
    assert sum(map(sum, first["classifier"]["confusion"])) == pytest.approx(1.0)
    assert main(["run", "-o", str(tmp_path / "b"), *SMALL]) == 0
    assert _without_timings(
        json.loads((tmp_path / "b" / "metrics.json").read_text())
    ) == _without_timings(first)
    assert not list(tmp_path.glob(".*partial*"))


def test_quick_tutorial_mode_reproduces_the_tutorials_settings_and_shows_its_numbers(tmp_path):
    from calspike import config

    result = calspike.run(
        out=tmp_path / "t",
        quick=True,
        tutorial=True,
        epochs=1,
        vae_epochs=2,
        toy_epochs=1,
        progress=False,
        log=None,
    )
    metrics = _check_report(tmp_path / "t", tutorial=True)
    settings = json.loads((tmp_path / "t" / "config.json").read_text())
    profile = {
        **config.PROFILES["tutorial"],
        **config.PROFILES["quick-tutorial"],
        "epochs": 1,
        "vae_epochs": 2,
        "toy_epochs": 1,
    }
    assert {k: settings[k] for k in profile} == profile and settings["tutorial"] is True
    assert settings["normalize"] == "window" and settings["features"] == "raw,tutorial_delta,quad"
    assert (
        metrics["classifier"]["features"]
        == metrics["vae"]["features"]
        == ["raw", "tutorial_delta", "quad"]
    )
    windows = metrics["windows"]
    assert (
        windows["train"] <= 10_000
        and windows["vae_train"] == windows["fresh"] == 1_000
        and windows["val"] == 0
    )
    assert metrics["svm"]["kind"].startswith("SVC(kernel='linear')")
    page_text = " ".join(" ".join(_texts(tmp_path / "t")).split())
    assert "Reproduction of the tutorial" in page_text
    rows = metrics["reproduction"]
    assert [r["tutorial"] for r in rows if r["quantity"] == "toy VAE: digits reconstructed"] == [
        0.925
    ]
    assert [r["tutorial"] for r in rows if r["quantity"].endswith("PC0")] == [0.222]
    for row in rows:  # the page shows each row's numbers as metrics.json holds them
        assert row["quantity"] in page_text
        assert f"{row['this_run']:.3f}" in page_text
        if row["tutorial"] is not None:
            assert f"{row['tutorial']:.3f}" in page_text
    assert result.metrics == metrics


def _texts(folder: Path) -> list[str]:
    page = _Page()
    page.feed((folder / "index.html").read_text())
    return page.text


def test_tutorial_delta_is_for_the_tutorial_mode_only():
    with pytest.raises(ValueError, match="tutorial_delta .* --tutorial` only"):
        calspike.run(features="raw,tutorial_delta")
    with pytest.raises(ValueError, match="vae_features must start with raw"):
        calspike.run(vae_features="delta,raw")


def test_run_on_real_data(spikefinder_dir, tmp_path):
    metrics = calspike.run(
        spikefinder_dir,
        out=tmp_path / "real",
        quick=True,
        epochs=2,
        vae_epochs=2,
        max_windows=3000,
        progress=False,
        log=None,
    ).metrics
    _check_report(tmp_path / "real")
    assert [row["recording"] for row in metrics["data"]] == ["4.train", "5.train", "6.train"]
    assert sum(row["windows"] for row in metrics["data"]) == 49_242  # the tutorial's windows


def test_an_interrupted_run_leaves_no_report(tmp_path, monkeypatch):
    from calspike.tutorial import plots

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(plots, "latent_pca", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        calspike.run(
            out=tmp_path / "report",
            quick=True,
            epochs=1,
            vae_epochs=1,
            max_windows=1000,
            progress=False,
            log=None,
        )
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as code:  # a usage error, found before any work
        main(["run", "-o", str(tmp_path / "file" / "report"), *SMALL])
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert (
        "cannot write the report folder" in err
        and "file/report" in err
        and "is not a folder" in err
    )


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown settings: colour"):
        calspike.run(colour="red")
    with pytest.raises(ValueError, match="features must be a comma-separated list"):
        calspike.run(features="raw,wavelet")
    with pytest.raises(ValueError, match=r"epochs must be in \[1, "):
        calspike.run(epochs=0)
