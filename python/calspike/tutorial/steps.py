"""The steps of `calspike run`, each a method of `Report`.

Recordings, windows and split, the LSTM classifier, the toy VAE, the calcium VAE, the SVM on its
latents, decoding the SVM's direction and the label-conditioned VAE; the report's files at the end.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np

from calspike.data import Recording, default_recordings, fetch_spikefinder, load_recordings
from calspike.tutorial.html import page
from calspike.tutorial.timing import SIMULATED_FRAMES, StepClock, bytes_in, say_duration
from calspike.windows import WINDOW_SETTINGS, Windows, partition

TUTORIAL_FRESH_WINDOWS = 1_000  # the tutorial's PCA and SVM windows (`--tutorial`)
GENERATED_SAMPLES = 500  # traces the conditional VAE draws per class


class Report:
    """Runs the steps of `calspike run`, keeping the figures, metrics and timings for the page."""

    STEPS = 8

    def __init__(
        self,
        folder: Path,
        params: dict[str, Any],
        kinds: list[str],
        vae_kinds: list[str],
        tutorial: bool,
        progress: bool,
        say: Callable[[str], None],
    ) -> None:
        self.folder, self.params, self.kinds, self.vae_kinds = folder, params, kinds, vae_kinds
        self.tutorial, self.progress, self.say = tutorial, progress, say
        self.metrics: dict[str, Any] = {"mode": "tutorial" if tutorial else "calspike"}
        self.timings: dict[str, float] = {}
        self._stacks: dict[tuple[int, tuple[str, ...]], np.ndarray] = {}
        self._centred: dict[int, Windows] = {}  # centred copies of windows, by the original's id
        for sub in ("figures", "models"):
            (folder / sub).mkdir()

    @contextmanager
    def step(self, number: int, name: str, expected_s: float) -> Iterator[None]:
        self.say(f"[{number}/{self.STEPS}] {name} (expected: {say_duration(expected_s)})")
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)

    def figure(self, name: str, fig: Any) -> None:
        import matplotlib.pyplot as plt

        fig.savefig(self.folder / "figures" / f"{name}.png", dpi=110)
        plt.close(fig)

    def stack(self, windows: Windows, kinds: list[str]) -> np.ndarray:
        """The feature stack of windows this report holds (train, val, test...), computed once."""
        from calspike.features import features

        key = (id(windows), tuple(kinds))
        if key not in self._stacks:
            self._stacks[key] = features(windows, kinds)
        return self._stacks[key]

    def vae_stack(self, windows: Windows) -> np.ndarray:
        return self.stack(windows, self.vae_kinds)

    def centred(self, windows: Windows) -> Windows:
        """`generative.centred(windows)`, made once per windows this report holds."""
        from calspike.tutorial import generative

        if id(windows) not in self._centred:
            self._centred[id(windows)] = generative.centred(windows)
        return self._centred[id(windows)]

    def vae_stacks(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The VAEs' (training, validation) feature stacks."""
        return self.vae_stack(self.vae_train), None if self.val is None else self.vae_stack(
            self.val
        )

    def fit_args(self) -> dict[str, Any]:
        """Settings of every fit: the tutorial's plain constant-rate Adam without clipping, or calspike's."""
        p = self.params
        tutorial = {"schedule": "constant", "clip": None} if self.tutorial else {}
        return {
            "batch_size": p["batch_size"],
            "lr": p["lr"],
            "patience": p["patience"],
            "device": self.device,
            "seed": p["seed"],
            "progress": self.progress,
            **tutorial,
        }

    def execute(
        self, data: str | os.PathLike[str] | None, fetch: bool, rate: float | None, quick: bool
    ) -> None:
        import torch

        from calspike._version import __version__
        from calspike.training import choose_device

        started = time.perf_counter()
        self.device = str(choose_device(self.params["device"]))
        source = "simulated" if data is None and not fetch else str(data or "SpikeFinder (fetched)")
        p, clock = self.params, StepClock()
        plan: list[tuple[str, Callable[[], float], Callable[[], None]]] = [
            (
                "recordings",
                lambda: (
                    float("nan")
                    if fetch and data is None
                    else clock.expect("read", bytes_in(data))
                    if data is not None
                    else clock.expect("simulation", SIMULATED_FRAMES)
                ),
                lambda: self._recordings(
                    fetch_spikefinder("train") if fetch and data is None else data, rate, source
                ),
            ),
            ("partition and split", lambda: clock.expect("partition", self.frames), self._windows),
            (
                "LSTM classifier",
                lambda: clock.expect("classifier", len(self.train) * p["epochs"]),
                self._classifier,
            ),
            ("toy VAE", lambda: clock.expect("toy", 10_000 * p["toy_epochs"]), self._toy_vae),
            (
                "calcium VAE",
                lambda: clock.expect("vae", len(self.vae_train) * p["vae_epochs"]),
                self._calcium_vae,
            ),
            (
                "linear SVM on latent means",
                lambda: clock.expect(
                    "svm", len(self.svm_train if self.fresh is None else self.fresh)
                ),
                self._svm,
            ),
            ("decoding the SVM's direction", lambda: clock.expect("decoding", 1), self._decoding),
            (
                "conditional VAE",
                lambda: clock.expect("conditional", len(self.vae_train) * p["vae_epochs"]),
                self._conditional_vae,
            ),
        ]
        for number, (name, expected, run) in enumerate(plan, 1):
            expected_s = expected()
            with self.step(number, name, expected_s):
                run()
            if (
                name == "LSTM classifier"
            ):  # its real speed (per epoch run) rescales the later steps' estimates
                clock.calibrate(
                    expected_s * self.metrics["classifier"]["epochs_run"] / p["epochs"],
                    self.timings[name],
                )
        if self.tutorial:
            from calspike.tutorial.departures import reproduction_rows

            self.metrics["reproduction"] = reproduction_rows(self.metrics)
        self.metrics["timings_s"] = {
            **self.timings,
            "total": round(time.perf_counter() - started, 3),
        }
        self.metrics["device"] = self.device
        self.metrics["versions"] = {
            "calspike": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        }
        self.metrics["source"] = source
        settings = {
            **self.params,
            "rate": rate,
            "quick": quick,
            "tutorial": self.tutorial,
            "data": source,
        }
        (self.folder / "metrics.json").write_text(json.dumps(self.metrics, indent=2))
        (self.folder / "config.json").write_text(json.dumps(settings, indent=2))
        (self.folder / "index.html").write_text(page(self.folder, self.metrics, settings))

    def _recordings(
        self, data: str | os.PathLike[str] | None, rate: float | None, source: str
    ) -> None:
        from calspike.tutorial import plots

        recordings: list[Recording] = (
            default_recordings(self.params["seed"]) if data is None else load_recordings(data, rate)
        )
        if any(r.spikes is None for r in recordings):
            raise ValueError(
                f"{source}: calspike run needs ground-truth spikes for every recording"
            )
        rates = {r.rate for r in recordings}
        self.rate = recordings[0].rate if len(rates) == 1 else float("nan")
        self.frame_rate = self.rate if np.isfinite(self.rate) else 100.0
        self.figure("traces", plots.sample_traces(recordings))
        self.recordings = recordings
        self.frames = sum(int(np.asarray(r.calcium).size) for r in recordings)

    def _windows(self) -> None:
        recordings = self.recordings
        from calspike.tutorial import plots
        from calspike.windows import sampling

        p = self.params
        window_params = {k: p[k] for k in WINDOW_SETTINGS}
        train_skip = max(1, p["train_skip"])
        held_out = partition(recordings, threads=p["threads"], **window_params)
        training = (
            held_out
            if train_skip == p["skip"]
            else partition(
                recordings, threads=p["threads"], **{**window_params, "skip": train_skip}
            )
        )
        split = sampling.neuron_split(held_out, p["seed"])
        self.metrics["data"] = self._data_table(recordings, held_out)
        self.metrics["split"] = {
            part: [held_out.neuron_names[n] for n in neurons] for part, neurons in split.items()
        }
        self.figure(
            "windows",
            plots.example_windows(
                held_out.windows, _labels(held_out), p["len_pre"], self.frame_rate, seed=p["seed"]
            ),
        )

        def draw(windows: Windows, part: str, most: int | None, seed: int) -> Windows:
            return windows.subset(
                sampling.labelled_subset(windows, split[part], max_windows=most, seed=seed)
            )

        self.train = draw(training, "train", p["max_windows"], p["seed"])
        self.vae_train = (
            draw(training, "train", p["vae_windows"], p["seed"] + 1)
            if p["vae_windows"]
            else self.train
        )
        # the tutorial stops nothing early: its validation neurons go unused
        self.val = None if self.tutorial else draw(held_out, "val", None, p["seed"])
        self.test = draw(held_out, "test", None, p["seed"])
        self.svm_train = self.train.subset(
            np.arange(min(len(self.train), 20_000))
        )  # train is shuffled
        # the tutorial's PCA and SVM: a fresh balanced draw of 1,000 windows of the training neurons
        self.fresh = (
            draw(training, "train", TUTORIAL_FRESH_WINDOWS, p["seed"] + 2)
            if self.tutorial
            else None
        )
        self.metrics["windows"] = {
            "train": len(self.train),
            "vae_train": len(self.vae_train),
            "val": 0 if self.val is None else len(self.val),
            "test": len(self.test),
            "train_skip": train_skip,
            "balanced": True,
            **({"fresh": len(self.fresh)} if self.fresh is not None else {}),
        }

    def _classifier(self) -> None:
        from calspike.models import SpikeClassifier
        from calspike.tutorial import plots, workflows
        from calspike.tutorial.scores import classification_scores

        p = self.params
        test_labels = _labels(self.test)
        # each split's feature stack, computed once for the classifier and the baseline
        train_stack, test_stack = (
            self.stack(self.train, self.kinds),
            self.stack(self.test, self.kinds),
        )
        val_stack = None if self.val is None else self.stack(self.val, self.kinds)
        result = workflows.train_classifier(
            self.train,
            self.val,
            kinds=self.kinds,
            hidden=p["hidden"],
            epochs=p["epochs"],
            checkpoint=self.folder / "models" / "classifier.pt",
            stacks=(train_stack, val_stack),
            **self.fit_args(),
        )
        model = cast(SpikeClassifier, result.model)
        self.probability = workflows.classifier_probability(
            model, self.test, self.kinds, stack=test_stack
        )
        scores = classification_scores(test_labels, self.probability)
        baseline, baseline_probability = self._logistic(train_stack, test_stack)
        self.metrics["classifier"] = {
            **scores,
            "epochs_run": len(result.history),
            "best_epoch": result.best_epoch,
            "features": self.kinds,
        }
        if self.tutorial:  # where the tutorial scored it: its own training windows
            fitted = workflows.classifier_probability(
                model, self.train, self.kinds, stack=train_stack
            )
            self.metrics["classifier"]["fitted"] = classification_scores(
                _labels(self.train), fitted
            )
        self.metrics["logistic_regression"] = baseline
        self.figure(
            "classifier_training", plots.training_curves(result.history, "LSTM spike classifier")
        )
        self.curves = {
            "LSTM classifier": _roc_points(test_labels, self.probability, scores["roc_auc"]),
            "logistic regression": _roc_points(
                test_labels, baseline_probability, baseline["roc_auc"]
            ),
        }

    def _toy_vae(self) -> None:
        import torch

        from calspike.models import ToyVAE, one_hot_digits
        from calspike.training import fit, save_model
        from calspike.tutorial import plots

        p = self.params
        torch.manual_seed(p["seed"])
        toy = ToyVAE(beta=p["toy_beta"], loss=p["toy_loss"])
        digits = one_hot_digits(10_000, seed=p["seed"])
        # the tutorial's optimiser whatever the mode: the toy VAE is its demonstration
        result = fit(
            toy,
            digits,
            epochs=p["toy_epochs"],
            batch_size=p["toy_batch_size"],
            lr=p["toy_lr"],
            schedule="constant",
            clip=None,
            patience=None,
            device=self.device,
            seed=p["seed"],
            progress=self.progress,
        )
        self.metrics["toy_vae"] = {
            "reconstruction_accuracy": result.history[-1]["train_accuracy"],
            "loss": p["toy_loss"],
        }
        toy.eval().cpu()
        with torch.no_grad():  # latent vectors drawn as in training, so each digit's spread shows
            mean, log_var = toy.encode(digits[:1000], return_log_var=True)
            noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(p["seed"]))
            sampled = (mean + noise * torch.exp(0.5 * log_var)).numpy()
        self.figure("toy_latent", plots.toy_latent(sampled, digits[:1000].argmax(dim=1).numpy()))
        save_model(toy, self.folder / "models" / "toy_vae.pt")

    def _calcium_vae(self) -> None:
        from calspike.models import CalciumVAE
        from calspike.tutorial import analysis, plots, workflows

        p = self.params
        result = workflows.train_vae(
            self.vae_train,
            self.val,
            kinds=self.vae_kinds,
            hidden=p["hidden"],
            latent=p["latent"],
            beta=p["beta"],
            epochs=p["vae_epochs"],
            checkpoint=self.folder / "models" / "vae.pt",
            stacks=self.vae_stacks(),
            **self.fit_args(),
        )
        self.vae = cast(CalciumVAE, result.model)
        self.test_latent = workflows.latent_means(
            self.vae, self.test, self.vae_kinds, stack=self.vae_stack(self.test)
        )
        # the tutorial's PCA is of its fresh 1,000 windows; calspike's of the held-out windows
        pca_windows = self.fresh if self.fresh is not None else self.test
        pca_latent = (
            self.test_latent
            if self.fresh is None
            else workflows.latent_means(
                self.vae, self.fresh, self.vae_kinds, stack=self.vae_stack(self.fresh)
            )
        )
        pca = analysis.latent_pca(pca_latent, 10, p["seed"])
        self.metrics["vae"] = {
            "explained_variance": workflows.explained_variance(
                self.vae, self.test, self.vae_kinds, stack=self.vae_stack(self.test)
            ),
            "epochs_run": len(result.history),
            "features": self.vae_kinds,
            "latent_pca_explained_variance": pca.explained_variance_ratio.tolist(),
            "latent_pca_windows": "fresh training-neuron windows"
            if self.fresh is not None
            else "held-out windows",
        }
        self.figure("vae_training", plots.training_curves(result.history, "Calcium VAE"))
        shown = self.test.subset(np.arange(min(6, len(self.test))))
        reconstruction = workflows.reconstruct(
            self.vae, shown, self.vae_kinds, stack=self.vae_stack(self.test)[: len(shown)]
        )
        self.figure(
            "reconstructions",
            plots.reconstructions(
                shown.windows, reconstruction, shown.did_spike, p["len_pre"], self.frame_rate
            ),
        )
        self.figure(
            "latent_pca",
            plots.latent_pca(pca.explained_variance_ratio, pca.projected, _labels(pca_windows)),
        )

    def _svm(self) -> None:
        from calspike.tutorial import plots

        self.metrics["svm"] = self._svm_scores(self.vae)
        # the same SVM on one draw of q(z|x) per window, to compare with the conditional VAE's
        self.metrics["svm"]["test_balanced_accuracy_on_draws"] = self._svm_scores(
            self.vae, draw_seed=self.params["seed"]
        )["test_balanced_accuracy"]
        self.figure(
            "confusion",
            plots.confusion(
                {
                    f"LSTM classifier (balanced accuracy {self.metrics['classifier']['balanced_accuracy']:.3f})": np.array(
                        self.metrics["classifier"]["confusion"]
                    ),
                    f"SVM on VAE latent means (balanced accuracy {self.metrics['svm']['test_balanced_accuracy']:.3f})": np.array(
                        self.metrics["svm"]["confusion"]
                    ),
                },
                "held-out neurons; fractions of all windows, rows predicted, columns true",
            ),
        )
        self.figure("roc", plots.roc(self.curves))
        self.figure(
            "errors",
            plots.error_examples(
                self.test.windows,
                _labels(self.test),
                self.probability,
                self.params["len_pre"],
                self.frame_rate,
            ),
        )

    def _svm_scores(
        self, vae: Any, draw_seed: int | None = None, centre: bool = False
    ) -> dict[str, Any]:
        """The SVM on a VAE's latent means, scored on held-out neurons.

        Latent means drawn from q(z|x) with `draw_seed`. The tutorial's SVC on the fresh windows
        (also scored there) in tutorial mode, else calspike's standardised probe. `centre`: the
        VAE models centred windows.
        """
        from calspike.tutorial import analysis, generative, workflows

        def latent(windows: Windows) -> np.ndarray:
            if centre:
                windows = self.centred(windows)
            return workflows.latent_means(
                vae, windows, self.vae_kinds, draw_seed=draw_seed, stack=self.vae_stack(windows)
            )

        test_latent = latent(self.test)
        if self.fresh is not None:
            fitted = generative.tutorial_svm(
                vae, latent(self.fresh), _labels(self.fresh), test_latent, _labels(self.test)
            )
            if fitted.decoded is not None:
                self.tutorial_decoded = fitted.decoded
            return {
                "kind": "SVC(kernel='linear') on the latent vectors of 1,000 fresh windows (the tutorial's)",
                "test_accuracy": fitted.accuracy_held_out,
                "test_balanced_accuracy": fitted.balanced_accuracy_held_out,
                "test_roc_auc": fitted.roc_auc_held_out,
                "confusion": fitted.confusion_held_out.tolist(),
                "fitted_balanced_accuracy": fitted.balanced_accuracy_fitted,
                "fitted_confusion": fitted.confusion_fitted.tolist(),
            }
        svm_train = self.svm_train
        probe = analysis.linear_probe(
            latent(svm_train),
            _labels(svm_train),
            test_latent,
            _labels(self.test),
            seed=self.params["seed"],
        )
        if draw_seed is None:
            self.probe = probe
        return {
            "kind": "LinearSVC(C=0.1) on standardised latent means, balanced classes",
            "test_accuracy": probe.test_accuracy,
            "test_balanced_accuracy": probe.test_balanced_accuracy,
            "test_roc_auc": probe.test_roc_auc,
            "confusion": probe.test_confusion.tolist(),
            "train_balanced_accuracy": probe.train_balanced_accuracy,
        }

    def _decoding(self) -> None:
        from calspike.training import predict
        from calspike.tutorial import analysis, plots, vae_plots

        p = self.params
        if self.fresh is not None:
            self.figure(
                "tutorial_decoding",
                vae_plots.tutorial_decoding(self.tutorial_decoded, p["len_pre"], self.frame_rate),
            )
            return
        self.vae.eval()
        decoded = predict(self.vae.decode, analysis.probe_latents(self.probe))
        self.figure(
            "probe_traces",
            plots.probe_traces(decoded[0], decoded[1], decoded[2], p["len_pre"], self.frame_rate),
        )

    def _conditional_vae(self) -> None:
        from calspike.models import CalciumVAE
        from calspike.tutorial import generative, vae_plots, workflows

        p = self.params
        # it models each window's shape: the windows minus their own means
        train, test = self.centred(self.vae_train), self.centred(self.test)
        val = None if self.val is None else self.centred(self.val)
        result = workflows.train_vae(
            train,
            val,
            kinds=self.vae_kinds,
            conditional=True,
            hidden=p["hidden"],
            latent=p["latent"],
            beta=p["conditional_beta"],
            epochs=p["vae_epochs"],
            checkpoint=self.folder / "models" / "conditional_vae.pt",
            stacks=(self.vae_stack(train), None if val is None else self.vae_stack(val)),
            **self.fit_args(),
        )
        conditional = cast(CalciumVAE, result.model)
        spike, no_spike = generative.generate_by_class(
            conditional, GENERATED_SAMPLES, seed=p["seed"]
        )
        self.metrics["conditional_vae"] = {
            "explained_variance": workflows.explained_variance(
                conditional, test, self.vae_kinds, stack=self.vae_stack(test)
            ),
            "epochs_run": len(result.history),
            "samples_per_class": GENERATED_SAMPLES,
            "windows": "centred",
            "svm_test_balanced_accuracy_on_draws": self._svm_scores(
                conditional, draw_seed=p["seed"], centre=True
            )["test_balanced_accuracy"],
            "svm_test_balanced_accuracy": self._svm_scores(conditional, centre=True)[
                "test_balanced_accuracy"
            ],
            **generative.compare_rises(spike, no_spike, test.windows, _labels(test), p["len_pre"]),
        }
        self.figure(
            "generated",
            vae_plots.generated(
                spike, no_spike, test.windows, _labels(test), p["len_pre"], self.frame_rate
            ),
        )
        conditional_latent = workflows.latent_means(
            conditional, test, self.vae_kinds, stack=self.vae_stack(test)
        )
        self.figure(
            "traversal",
            vae_plots.traversal(
                {
                    "calcium VAE": generative.traverse(self.vae, self.test_latent),
                    "conditional VAE": generative.traverse(conditional, conditional_latent),
                },
                p["len_pre"],
                self.frame_rate,
            ),
        )

    def _data_table(self, recordings: list[Recording], windows: Windows) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        start = 0  # the first neuron of the recording, in the windows' numbering
        for recording in recordings:
            mine = (windows.neuron >= start) & (windows.neuron < start + recording.neurons)
            start += recording.neurons
            labels = windows.did_spike[mine] if windows.did_spike is not None else np.zeros(0, bool)
            rows.append(
                {
                    "recording": recording.name,
                    "neurons": recording.neurons,
                    "rate_hz": recording.rate,
                    "frames": recording.valid_frames,
                    "windows": int(mine.sum()),
                    "spike_fraction": float(labels.mean()) if labels.size else float("nan"),
                }
            )
        return rows

    def _logistic(
        self, train_stack: np.ndarray, test_stack: np.ndarray
    ) -> tuple[dict[str, Any], np.ndarray]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from calspike.tutorial.scores import classification_scores

        x_train, x_test = (
            train_stack.reshape(len(self.train), -1),
            test_stack.reshape(len(self.test), -1),
        )
        # standardised inputs: quad's squares span orders of magnitude more than raw values
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            x_train, _labels(self.train)
        )
        probability = model.predict_proba(x_test)[:, 1]
        return classification_scores(_labels(self.test), probability), probability


def _labels(windows: Windows) -> np.ndarray:
    if windows.did_spike is None:
        raise ValueError("the windows carry no spike labels")
    return windows.did_spike


def _roc_points(
    labels: np.ndarray, scores: np.ndarray, auc: float
) -> tuple[np.ndarray, np.ndarray, float]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr, auc
