"""Quality on neurons never seen in training: the LSTM classifier, a logistic regression, the VAE.

SpikeFinder training datasets 4, 5 and 6 (24 neurons). The neurons are dealt into
`--folds` folds (seeded); each fold in turn is the test set, 3 other neurons decide
early stopping, the rest train. Test windows are the tutorial's (spike_n = 2, skip = 10,
balanced by drawing as many no-spike as spike windows); training windows use
`--train-skip` (more windows of the same training neurons) and are balanced too. The
logistic regression sees the same features and windows as the LSTM.

`--rate-channel` trains a spike-rate model (as `calspike train-rate` does: 8 epochs, 16
simulated neurons per indicator) on each fold's training neurons only, infers the rates
of every neuron with it and adds them as a third channel (scaled by the inverse of their
standard deviation over the training windows) for both the LSTM and the logistic
regression. `--ensemble K` averages the probabilities of K LSTMs of different seeds.

    python benchmarks/bench_quality.py SPIKEFINDER_DIR
    python benchmarks/bench_quality.py SPIKEFINDER_DIR --vae neuron:10:10
    python benchmarks/bench_quality.py SPIKEFINDER_DIR --configs neuron:10:30 --rate-channel
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

import calspike
from calspike.feature_stacks import parse_features
from calspike.models import SpikeClassifier
from calspike.spikes.rate import infer_spike_rates
from calspike.spikes.rate_training import train_rate_model
from calspike.training import fit, predict
from calspike.tutorial import analysis, workflows
from calspike.tutorial.scores import balanced_accuracy
from calspike.windows.sampling import labelled_subset

sys.path.insert(0, str(Path(__file__).parent))
from bench_spikefinder import EPOCHS, SIMULATED, single_neurons


def folds_of(neurons: int, folds: int, seed: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(neurons), folds)


def fold_rates(neurons, train_neurons: np.ndarray, seed: int) -> list[np.ndarray]:
    """Per-frame spike rates of every neuron from a rate model trained on `train_neurons` only
    (as `calspike infer` would give them; the model never sees validation or test neurons)."""
    torch.manual_seed(seed)
    model = train_rate_model(
        [neurons[i] for i in train_neurons],
        validation=None,
        epochs=EPOCHS,
        seed=seed,
        device="cpu",
        progress=False,
        simulated=SIMULATED,
        balance=0.0,
    ).model
    return [infer_spike_rates(n, model=model, device="cpu")[0][0] for n in neurons]


def with_rate(
    windows: calspike.Windows, kinds: list[str], rates: list[np.ndarray], scale: float
) -> np.ndarray:
    """The feature stack (N, L, C) with the rate channel (times `scale`) appended: (N, L, C + 1)."""
    stack = calspike.features(windows, kinds)
    channel = calspike.aligned_windows(windows, rates) * np.float32(scale)
    return np.concatenate([stack, channel[:, :, None]], axis=2)


def run_config(
    recordings, normalize: str, len_pre: int, len_post: int, args, with_vae: bool
) -> dict[str, list[float]]:
    window = {"len_pre": len_pre, "len_post": len_post, "spike_n": 2, "normalize": normalize}
    held_out = calspike.partition(recordings, skip=10, **window)
    training = calspike.partition(recordings, skip=args.train_skip, **window)
    simulated = None
    if args.simulated:
        # extra training neurons from the simulator (never tested on): calspike's default recordings
        sim = [
            r for seed in range(1, args.simulated + 1) for r in calspike.default_recordings(seed)
        ]
        simulated = calspike.partition(sim, skip=args.train_skip, **window)
        simulated = simulated.subset(
            calspike.balanced_indices(
                simulated.did_spike, args.simulated_windows // 2, seed=args.seed
            )
        )
    kinds = parse_features(args.features)
    neurons = len(held_out.neuron_names)
    if args.rate_channel and simulated is not None:
        raise SystemExit("--rate-channel and --simulated cannot be combined")
    neurons_list = single_neurons(recordings) if args.rate_channel else []
    scores: dict[str, list[float]] = {"lstm": [], "logistic": [], "vae_explained": [], "svm": []}
    for k, test_neurons in enumerate(folds_of(neurons, args.folds, args.seed)):
        rest = np.setdiff1d(np.arange(neurons), test_neurons)
        rest = np.random.default_rng(args.seed + k).permutation(rest)
        val_neurons, train_neurons = rest[:3], rest[3:]
        train = training.subset(
            labelled_subset(training, train_neurons, max_windows=args.max_windows, seed=k)
        )
        if simulated is not None:
            train = _joined(train, simulated, seed=k)
        val = held_out.subset(labelled_subset(held_out, val_neurons, seed=k))
        test = held_out.subset(labelled_subset(held_out, test_neurons, seed=k))
        start = time.perf_counter()
        if args.rate_channel:
            rates = fold_rates(neurons_list, train_neurons, seed=k)
            scale = 1.0 / float(np.std(calspike.aligned_windows(train, rates)))
            x_train, x_val, x_test = (with_rate(w, kinds, rates, scale) for w in (train, val, test))
        else:
            x_train, x_val, x_test = (calspike.features(w, kinds) for w in (train, val, test))
        # an ensemble of `--ensemble` classifiers (seeds differ in initialisation and batch order)
        # averages their spike probabilities; one member is the plain classifier
        probability = np.zeros(len(test))
        for member in range(args.ensemble):
            seed = k + 1000 * member
            torch.manual_seed(seed)
            model = SpikeClassifier(channels=x_train.shape[2], hidden=args.hidden)
            fit(
                model,
                x_train,
                train.did_spike,
                validation=(x_val, val.did_spike),
                epochs=args.epochs,
                lr=args.lr,
                patience=args.patience,
                device=args.device,
                seed=seed,
                progress=False,
            )
            probability += predict(model.predict_proba, x_test)
        lstm = balanced_accuracy(test.did_spike, probability / args.ensemble > 0.5)
        logistic = LogisticRegression(max_iter=1000).fit(
            x_train.reshape(len(train), -1), train.did_spike
        )
        lr_score = balanced_accuracy(
            test.did_spike, logistic.predict(x_test.reshape(len(test), -1))
        )
        scores["lstm"].append(lstm)
        scores["logistic"].append(lr_score)
        line = (
            f"  fold {k}: {len(train):,} train / {len(val):,} val / {len(test):,} test windows; "
            f"LSTM {lstm:.3f}, logistic regression {lr_score:.3f}"
        )
        if with_vae:
            vae_train = train.subset(
                np.arange(min(len(train), args.vae_max_windows))
            )  # train is shuffled
            vae_kinds = parse_features(args.vae_features)
            vae = workflows.train_vae(
                vae_train,
                val,
                kinds=vae_kinds,
                hidden=args.hidden,
                latent=args.latent,
                epochs=args.vae_epochs,
                lr=args.lr,
                patience=args.patience,
                device=args.device,
                seed=k,
                progress=False,
            ).model
            explained = workflows.explained_variance(vae, test, vae_kinds)  # type: ignore[arg-type]
            probe_train = train.subset(np.arange(min(len(train), 20_000)))
            probe = analysis.linear_probe(
                workflows.latent_means(vae, probe_train, vae_kinds),  # type: ignore[arg-type]
                probe_train.did_spike,
                workflows.latent_means(vae, test, vae_kinds),  # type: ignore[arg-type]
                test.did_spike,
                seed=k,
            )
            scores["vae_explained"].append(explained)
            scores["svm"].append(probe.test_balanced_accuracy)
            line += (
                f"; VAE explains {100 * explained:.1f}%, "
                f"SVM on its latents {probe.test_balanced_accuracy:.3f}"
            )
        print(f"{line} ({time.perf_counter() - start:.0f} s)", flush=True)
    return scores


def _joined(a: calspike.Windows, b: calspike.Windows, seed: int) -> calspike.Windows:
    """The windows of a and b, shuffled (b's neurons numbered after a's)."""
    order = np.random.default_rng(seed).permutation(len(a) + len(b))
    return calspike.Windows(
        np.concatenate([a.windows, b.windows])[order],
        np.concatenate([a.did_spike, b.did_spike])[order],
        np.concatenate([a.neuron, b.neuron + len(a.neuron_names)])[order],
        np.concatenate([a.frame, b.frame])[order],
        a.neuron_names + b.neuron_names,
        a.skipped,
        a.params,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", help="folder with the SpikeFinder N.train.*.csv files")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["neuron:10:10", "window:10:10", "neuron:10:30"],
        help="normalize:len_pre:len_post of each configuration",
    )
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-skip", type=int, default=1)
    parser.add_argument("--features", default="raw,delta")
    parser.add_argument(
        "--vae-features", default="raw", help="the calcium VAE's encoder features (raw first)"
    )
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--latent", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--vae-epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--max-windows", type=int, default=200_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--ensemble", type=int, default=1, help="classifiers per fold, probabilities averaged"
    )
    parser.add_argument(
        "--rate-channel",
        action="store_true",
        help="add the spike rate of a rate model trained on each fold's training neurons "
        "as a channel",
    )
    parser.add_argument(
        "--simulated",
        type=int,
        default=0,
        help="add the training windows of this many sets of simulated default recordings",
    )
    parser.add_argument(
        "--simulated-windows", type=int, default=60_000, help="simulated windows added (balanced)"
    )
    parser.add_argument(
        "--vae",
        default=None,
        metavar="CONFIG",
        help="also train the calcium VAE and the SVM probe for this configuration",
    )
    parser.add_argument(
        "--vae-max-windows", type=int, default=60_000, help="training windows of the VAE"
    )
    args = parser.parse_args()

    recordings = calspike.read_spikefinder(args.data, "train")
    print(
        f"SpikeFinder {', '.join(r.name for r in recordings)}: "
        f"{sum(r.neurons for r in recordings)} neurons; "
        f"{args.folds} folds by neuron (seed {args.seed}); features {args.features}; train skip "
        f"{args.train_skip}; torch {torch.__version__} on "
        f"{calspike.training.choose_device(args.device)}"
    )
    summary = []
    for config in args.configs:
        normalize, pre, post = config.split(":")
        print(f"{normalize} normalisation, windows of {pre} + {post} frames:", flush=True)
        scores = run_config(
            recordings, normalize, int(pre), int(post), args, with_vae=config == args.vae
        )
        summary.append((config, scores))
    print("\nbalanced accuracy on held-out neurons, mean over folds (min - max):")
    for config, scores in summary:
        cells = [
            f"{name} {np.mean(v):.3f} ({np.min(v):.3f} - {np.max(v):.3f})"
            for name, v in scores.items()
            if v
        ]
        ratio = np.mean(scores["lstm"]) / np.mean(scores["logistic"])
        print(f"  {config:<14} " + "; ".join(cells) + f"; LSTM / logistic {ratio:.3f}x")


if __name__ == "__main__":
    main()
