"""The job behind `calspike run`: the tutorial end to end, written as one report folder.

Steps: sample traces; partition and a neuron-wise split; the LSTM classifier (with a
logistic-regression baseline); the toy VAE; the calcium VAE and the PCA of its latent
means; a linear SVM on the latent means scored on held-out neurons; the decoder fed
along the SVM's weight vector. The folder (index.html, figures/*.png, metrics.json,
config.json, models/*.pt) is built under a temporary name and renamed into place at
the end, so an interrupted run never leaves a report that looks complete.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from calspike import config
from calspike._io import atomic_folder, check_folder_target, check_not_input
from calspike.data import Recording, default_recordings, fetch_spikefinder, load_recordings
from calspike.tutorial.html import page
from calspike.windows import WINDOW_SETTINGS, Windows, partition

RUN_SETTINGS = tuple(name for name in config.COMMANDS["run"] if name != "rate")  # rate: its own argument


def check_report_target(target: Path, data: str | os.PathLike[str] | None) -> None:
    """UsageError unless `target` may take the report: new, empty or an earlier report, and apart from `data`."""
    check_folder_target(target, "report folder")
    if data is not None:
        check_not_input([target], [Path(data)], "report folder")


@dataclass(frozen=True)
class RunResult:
    """What `run` returns: the numbers of metrics.json and the report folder."""

    metrics: dict[str, Any]
    path: Path


def run(
    data: str | os.PathLike[str] | None = None, *, out: str | os.PathLike[str] = "calspike-report",
    fetch: bool = False, quick: bool = False, rate: float | None = None, progress: bool = True,
    log: Callable[[str], None] | None = print, **settings: Any,
) -> RunResult:
    """Run the tutorial pipeline and write its report; returns the metrics and the report path.

    data : a SpikeFinder folder or file, or an array file (see `calspike.load_recordings`);
        None: the built-in simulated recordings (or, with fetch=True, the official
        SpikeFinder training data, downloaded once into the cache).
    quick : small models and few epochs (under 2 minutes on 2 CPU cores); explicit
        settings still win.
    settings : any of `calspike.config.SETTINGS` used by the run (window, training, seed,
        threads, device); unknown names raise ValueError.
    """
    unknown = sorted(set(settings) - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    chosen = {**config.defaults(RUN_SETTINGS, "run", *(("quick",) if quick else ())), **settings}
    params = config.check(chosen)
    from calspike.features import parse_features

    kinds = parse_features(params["features"])
    say = log or (lambda message: None)
    target = Path(out)
    check_report_target(target, data)
    with atomic_folder(target, "report folder", {"kind": "report"}) as folder:
        report = _Report(folder, params, kinds, progress, say)
        report.execute(data, fetch, rate, quick)
    say(f"report written to {target}/index.html")
    return RunResult(report.metrics, target)


class _Report:
    """Runs the steps, keeping the figures, metrics and timings for the page."""

    def __init__(self, folder: Path, params: dict[str, Any], kinds: list[str], progress: bool,
                 say: Callable[[str], None]) -> None:
        self.folder, self.params, self.kinds, self.progress, self.say = folder, params, kinds, progress, say
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        for sub in ("figures", "models"):
            (folder / sub).mkdir()

    @contextmanager
    def step(self, number: int, name: str) -> Iterator[None]:
        self.say(f"[{number}/7] {name}")
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)

    def figure(self, name: str, fig: Any) -> None:
        import matplotlib.pyplot as plt

        fig.savefig(self.folder / "figures" / f"{name}.png", dpi=110)
        plt.close(fig)

    def execute(self, data: str | os.PathLike[str] | None, fetch: bool, rate: float | None, quick: bool) -> None:
        import torch

        from calspike._version import __version__
        from calspike.features import features
        from calspike.models import CalciumVAE, SpikeClassifier, ToyVAE, one_hot_digits
        from calspike.training import choose_device, fit, predict, save_model
        from calspike.tutorial import analysis, plots, workflows
        from calspike.tutorial.scores import classification_scores
        from calspike.windows import sampling

        p = self.params
        started = time.perf_counter()
        device = str(choose_device(p["device"]))
        window_params = {k: p[k] for k in WINDOW_SETTINGS}
        train_skip = max(1, p["train_skip"])
        fit_args = {"batch_size": p["batch_size"], "lr": p["lr"], "patience": p["patience"], "device": device,
                    "seed": p["seed"], "progress": self.progress}

        with self.step(1, "recordings"):
            source = "simulated" if data is None and not fetch else str(data or "SpikeFinder (fetched)")
            if fetch and data is None:
                data = fetch_spikefinder("train")
            recordings: list[Recording] = default_recordings(p["seed"]) if data is None else load_recordings(data, rate)
            if any(r.spikes is None for r in recordings):
                raise ValueError(f"{source}: calspike run needs ground-truth spikes for every recording")
            rates = {r.rate for r in recordings}
            self.rate = recordings[0].rate if len(rates) == 1 else float("nan")
            self.figure("traces", plots.sample_traces(recordings))

        with self.step(2, "partition and split"):
            held_out = partition(recordings, threads=p["threads"], **window_params)
            training = held_out if train_skip == p["skip"] else partition(
                recordings, threads=p["threads"], **{**window_params, "skip": train_skip})
            split = sampling.neuron_split(held_out, p["seed"])
            self.metrics["data"] = self._data_table(recordings, held_out)
            self.metrics["split"] = {part: [held_out.neuron_names[n] for n in neurons]
                                     for part, neurons in split.items()}
            frame_rate = self.rate if np.isfinite(self.rate) else 100.0
            self.figure("windows", plots.example_windows(held_out.windows, _labels(held_out), p["len_pre"],
                                                         frame_rate, seed=p["seed"]))
            train = training.subset(sampling.labelled_subset(training, split["train"], max_windows=p["max_windows"],
                                                          seed=p["seed"]))
            val = held_out.subset(sampling.labelled_subset(held_out, split["val"], seed=p["seed"]))
            test = held_out.subset(sampling.labelled_subset(held_out, split["test"], seed=p["seed"]))
            test_labels = _labels(test)
            self.metrics["windows"] = {"train": len(train), "val": len(val), "test": len(test),
                                       "train_skip": train_skip, "balanced": True}

        with self.step(3, "LSTM classifier"):
            # each split's feature stack, computed once for the classifier and the baseline
            stacks = {name: features(part, self.kinds) for name, part in (("train", train), ("val", val),
                                                                          ("test", test))}
            result = workflows.train_classifier(
                train, val, kinds=self.kinds, hidden=p["hidden"], epochs=p["epochs"],
                checkpoint=self.folder / "models" / "classifier.pt", stacks=(stacks["train"], stacks["val"]),
                **fit_args)
            model = cast(SpikeClassifier, result.model)
            probability = workflows.classifier_probability(model, test, self.kinds, stack=stacks["test"])
            scores = classification_scores(test_labels, probability)
            baseline, baseline_probability = self._logistic(train, test, stacks["train"], stacks["test"])
            self.metrics["classifier"] = {**scores, "epochs_run": len(result.history),
                                          "best_epoch": result.best_epoch, "features": self.kinds}
            self.metrics["logistic_regression"] = baseline
            self.figure("classifier_training", plots.training_curves(result.history, "LSTM spike classifier"))
            self.figure("confusion", plots.confusion(np.array(scores["confusion"]),
                                                     f"held-out neurons, balanced accuracy "
                                                     f"{scores['balanced_accuracy']:.3f}"))
            curves = {"LSTM classifier": _roc_points(test_labels, probability, scores["roc_auc"]),
                      "logistic regression": _roc_points(test_labels, baseline_probability,
                                                         baseline["roc_auc"])}

        with self.step(4, "toy VAE"):
            torch.manual_seed(p["seed"])
            toy = ToyVAE(beta=p["toy_beta"])
            digits = one_hot_digits(10_000, seed=p["seed"])
            toy_result = fit(toy, digits, epochs=p["toy_epochs"], **{**fit_args, "batch_size": p["toy_batch_size"],
                                                                          "lr": p["toy_lr"], "patience": None})
            self.metrics["toy_vae"] = {"reconstruction_accuracy": toy_result.history[-1]["train_accuracy"]}
            toy_latent = predict(toy.encode, digits[:2000])
            self.figure("toy_latent", plots.toy_latent(toy_latent, digits[:2000].argmax(dim=1).numpy()))
            save_model(toy, self.folder / "models" / "toy_vae.pt")

        with self.step(5, "calcium VAE"):
            vae_result = workflows.train_vae(
                train, val, hidden=p["hidden"], latent=p["latent"], beta=p["beta"], epochs=p["vae_epochs"],
                checkpoint=self.folder / "models" / "vae.pt", **fit_args)
            vae = cast(CalciumVAE, vae_result.model)
            explained = workflows.explained_variance(vae, test.windows)
            test_latent = predict(vae.encode, test.windows)
            pca = analysis.latent_pca(test_latent, 10, p["seed"])
            self.metrics["vae"] = {"explained_variance": explained, "epochs_run": len(vae_result.history),
                                   "latent_pca_explained_variance": pca.explained_variance_ratio.tolist()}
            self.figure("vae_training", plots.training_curves(vae_result.history, "Calcium VAE"))
            shown = test.subset(np.arange(min(6, len(test))))
            vae.eval()
            reconstruction = predict(lambda x: vae(x)[0], shown.windows, device=device)
            self.figure("reconstructions", plots.reconstructions(shown.windows, reconstruction, shown.did_spike,
                                                                 p["len_pre"], frame_rate))
            self.figure("latent_pca", plots.latent_pca(pca.explained_variance_ratio, pca.projected,
                                                       test_labels))

        with self.step(6, "linear SVM on latent means"):
            svm_train = train.subset(np.arange(min(len(train), 20_000)))
            probe = analysis.linear_probe(predict(vae.encode, svm_train.windows), _labels(svm_train),
                                          test_latent, test_labels, seed=p["seed"])
            self.metrics["svm"] = {"test_accuracy": probe.test_accuracy,
                                   "test_balanced_accuracy": probe.test_balanced_accuracy,
                                   "test_roc_auc": probe.test_roc_auc,
                                   "train_balanced_accuracy": probe.train_balanced_accuracy}
            self.figure("roc", plots.roc(curves))
            self.figure("errors", plots.error_examples(test.windows, test_labels, probability, p["len_pre"],
                                                       frame_rate))

        with self.step(7, "decoding the probe direction"):
            decoded = predict(vae.decode, analysis.probe_latents(probe))
            self.figure("probe_traces", plots.probe_traces(decoded[0], decoded[1], decoded[2], p["len_pre"],
                                                             frame_rate))

        self.metrics["timings_s"] = {**self.timings, "total": round(time.perf_counter() - started, 3)}
        self.metrics["device"] = device
        self.metrics["versions"] = {"calspike": __version__, "torch": torch.__version__,
                                    "numpy": np.__version__, "python": platform.python_version()}
        self.metrics["source"] = source
        settings = {**p, "rate": rate, "quick": quick, "data": source}  # every setting used, toy VAE's included
        (self.folder / "metrics.json").write_text(json.dumps(self.metrics, indent=2))
        (self.folder / "config.json").write_text(json.dumps(settings, indent=2))
        (self.folder / "index.html").write_text(page(self.folder, self.metrics, settings))

    def _data_table(self, recordings: list[Recording], windows: Windows) -> list[dict[str, Any]]:
        rows = []
        start = 0
        for recording in recordings:
            mine = (windows.neuron >= start) & (windows.neuron < start + recording.neurons)
            start += recording.neurons
            labels = windows.did_spike[mine] if windows.did_spike is not None else np.zeros(0, bool)
            rows.append({"recording": recording.name, "neurons": recording.neurons, "rate_hz": recording.rate,
                         "frames": recording.valid_frames, "windows": int(mine.sum()),
                         "spike_fraction": float(labels.mean()) if labels.size else float("nan")})
        return rows

    def _logistic(self, train: Windows, test: Windows, train_stack: np.ndarray,
                  test_stack: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        from calspike.tutorial.scores import classification_scores

        x_train = train_stack.reshape(len(train), -1)
        x_test = test_stack.reshape(len(test), -1)
        model = LogisticRegression(max_iter=1000).fit(x_train, _labels(train))
        probability = model.predict_proba(x_test)[:, 1]
        return classification_scores(_labels(test), probability), probability


def _labels(windows: Windows) -> np.ndarray:
    if windows.did_spike is None:
        raise ValueError("the windows carry no spike labels")
    return windows.did_spike


def _roc_points(labels: np.ndarray, scores: np.ndarray, auc: float) -> tuple[np.ndarray, np.ndarray, float]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr, auc


