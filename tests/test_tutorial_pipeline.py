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


def _check_report(folder: Path) -> dict:
    for name in FIGURES:
        png = folder / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.01, name
    page = _Page()
    page.feed((folder / "index.html").read_text())
    page.close()
    assert page.figures == set(FIGURES)
    assert {f"figures/{name}.png" for name in FIGURES} <= page.links
    metrics = json.loads((folder / "metrics.json").read_text())
    text = " ".join(page.text)
    for number in (metrics["classifier"]["balanced_accuracy"], metrics["logistic_regression"]["balanced_accuracy"],
                   metrics["svm"]["test_balanced_accuracy"], metrics["classifier"]["roc_auc"]):
        assert f"{number:.3f}" in text
    assert f"{100 * metrics['vae']['explained_variance']:.1f}%" in text
    assert set(metrics["timings_s"]) >= {"recordings", "LSTM classifier", "calcium VAE", "total"}
    settings = json.loads((folder / "config.json").read_text())
    assert settings["seed"] == 0 and "epochs" in settings
    from calspike import config

    used = set(config.COMMANDS["run"])  # every setting the run used, the toy VAE's included, is listed
    assert used <= set(settings), sorted(used - set(settings))
    page_text = (folder / "index.html").read_text()
    assert all(f"<td>{name}</td>" in page_text for name in used), "the page's settings table"
    for model in ("classifier", "vae", "toy_vae"):
        load_model(folder / "models" / f"{model}.pt")
    split = metrics["split"]
    assert not (set(split["train"]) & set(split["test"]) or set(split["val"]) & set(split["test"]))
    return metrics


def _without_timings(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "timings_s"}


def test_quick_run_on_simulated_data_is_complete_and_reproducible(tmp_path, capsys):
    assert main(["run", "-o", str(tmp_path / "a"), *SMALL]) == 0
    assert "balanced accuracy" in capsys.readouterr().out
    first = _check_report(tmp_path / "a")
    assert first["source"] == "simulated" and len(first["vae"]["latent_pca_explained_variance"]) == 10
    assert first["classifier"]["balanced_accuracy"] > 0.6  # the simulated spikes are learnable
    assert sum(map(sum, first["classifier"]["confusion"])) == pytest.approx(1.0)
    assert main(["run", "-o", str(tmp_path / "b"), *SMALL]) == 0
    assert _without_timings(json.loads((tmp_path / "b" / "metrics.json").read_text())) == _without_timings(first)
    assert not list(tmp_path.glob(".*partial*"))


def test_run_on_real_data(spikefinder_dir, tmp_path):
    metrics = calspike.run(spikefinder_dir, out=tmp_path / "real", quick=True, epochs=2, vae_epochs=2,
                           max_windows=3000, progress=False, log=None).metrics
    _check_report(tmp_path / "real")
    assert [row["recording"] for row in metrics["data"]] == ["4.train", "5.train", "6.train"]
    assert sum(row["windows"] for row in metrics["data"]) == 49_242  # the tutorial's windows


def test_an_interrupted_run_leaves_no_report(tmp_path, monkeypatch):
    from calspike.tutorial import plots

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(plots, "latent_pca", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        calspike.run(out=tmp_path / "report", quick=True, epochs=1, vae_epochs=1, max_windows=1000,
                     progress=False, log=None)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as code:  # a usage error, found before any work
        main(["run", "-o", str(tmp_path / "file" / "report"), *SMALL])
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert "cannot write the report folder" in err and "file/report" in err and "is not a folder" in err


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown settings: colour"):
        calspike.run(colour="red")
    with pytest.raises(ValueError, match="features must be a comma-separated list"):
        calspike.run(features="raw,wavelet")
    with pytest.raises(ValueError, match=r"epochs must be in \[1, "):
        calspike.run(epochs=0)
