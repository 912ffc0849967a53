"""Quality on neurons never seen in training: the LSTM classifier, a logistic regression, the VAE.

SpikeFinder training datasets 4, 5 and 6 (24 neurons). The neurons are dealt into
`--folds` folds (seeded); each fold in turn is the test set, 3 other neurons decide
early stopping, the rest train. Test windows are the tutorial's (spike_n = 2, skip = 10,
balanced by drawing as many no-spike as spike windows); training windows use
`--train-skip` (more windows of the same training neurons) and are balanced too. The
logistic regression sees the same features and windows as the LSTM.

    python benchmarks/bench_quality.py SPIKEFINDER_DIR
    python benchmarks/bench_quality.py SPIKEFINDER_DIR --vae neuron:10:10
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

import calspike
from calspike import analysis, tasks
from calspike.metrics import balanced_accuracy
from calspike.train import predict


def folds_of(neurons: int, folds: int, seed: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(neurons), folds)


def run_config(recordings, normalize: str, len_pre: int, len_post: int, args, with_vae: bool) -> dict[str, list[float]]:
    window = {"len_pre": len_pre, "len_post": len_post, "spike_n": 2, "normalize": normalize}
    held_out = calspike.partition(recordings, skip=10, **window)
    training = calspike.partition(recordings, skip=args.train_skip, **window)
    simulated = None
    if args.simulated:
        # extra training neurons from the simulator (never tested on): calspike's default recordings
        sim = [r for seed in range(1, args.simulated + 1) for r in calspike.default_recordings(seed)]
        simulated = calspike.partition(sim, skip=args.train_skip, **window)
        simulated = simulated.subset(calspike.balanced_indices(simulated.did_spike, args.simulated_windows // 2,
                                                               seed=args.seed))
    kinds = tasks.parse_features(args.features)
    neurons = len(held_out.neuron_names)
    scores: dict[str, list[float]] = {"lstm": [], "logistic": [], "vae_explained": [], "svm": []}
    for k, test_neurons in enumerate(folds_of(neurons, args.folds, args.seed)):
        rest = np.setdiff1d(np.arange(neurons), test_neurons)
        rest = np.random.default_rng(args.seed + k).permutation(rest)
        val_neurons, train_neurons = rest[:3], rest[3:]
        train = training.subset(tasks.labelled_subset(training, train_neurons, max_windows=args.max_windows, seed=k))
        if simulated is not None:
            train = _joined(train, simulated, seed=k)
        val = held_out.subset(tasks.labelled_subset(held_out, val_neurons, seed=k))
        test = held_out.subset(tasks.labelled_subset(held_out, test_neurons, seed=k))
        start = time.perf_counter()
        result = tasks.train_classifier(train, val, kinds=kinds, hidden=args.hidden, epochs=args.epochs,
                                        lr=args.lr, patience=args.patience, device=args.device, seed=k,
                                        progress=False)
        lstm = tasks.score_classifier(result.model, test, kinds)["balanced_accuracy"]  # type: ignore[arg-type]
        x_train = calspike.features(train, kinds).reshape(len(train), -1)
        logistic = LogisticRegression(max_iter=1000).fit(x_train, train.did_spike)
        lr_score = balanced_accuracy(test.did_spike,
                                     logistic.predict(calspike.features(test, kinds).reshape(len(test), -1)))
        scores["lstm"].append(lstm)
        scores["logistic"].append(lr_score)
        line = (f"  fold {k}: {len(train):,} train / {len(val):,} val / {len(test):,} test windows; "
                f"LSTM {lstm:.3f}, logistic regression {lr_score:.3f}")
        if with_vae:
            vae_train = train.subset(np.arange(min(len(train), args.vae_max_windows)))  # train is shuffled
            vae = tasks.train_vae(vae_train, val, hidden=args.hidden, latent=args.latent, epochs=args.vae_epochs,
                                  lr=args.lr, patience=args.patience, device=args.device, seed=k,
                                  progress=False).model
            explained = tasks.explained_variance(vae, test.windows)  # type: ignore[arg-type]
            probe_train = train.subset(np.arange(min(len(train), 20_000)))
            probe = analysis.linear_probe(predict(vae.encode, probe_train.windows), probe_train.did_spike,
                                          predict(vae.encode, test.windows), test.did_spike, seed=k)
            scores["vae_explained"].append(explained)
            scores["svm"].append(probe.test_balanced_accuracy)
            line += f"; VAE explains {100 * explained:.1f}%, SVM on its latents {probe.test_balanced_accuracy:.3f}"
        print(f"{line} ({time.perf_counter() - start:.0f} s)", flush=True)
    return scores


def _joined(a: calspike.Windows, b: calspike.Windows, seed: int) -> calspike.Windows:
    """The windows of a and b, shuffled (b's neurons numbered after a's)."""
    order = np.random.default_rng(seed).permutation(len(a) + len(b))
    return calspike.Windows(
        np.concatenate([a.windows, b.windows])[order], np.concatenate([a.did_spike, b.did_spike])[order],
        np.concatenate([a.neuron, b.neuron + len(a.neuron_names)])[order], np.concatenate([a.frame, b.frame])[order],
        a.neuron_names + b.neuron_names, a.skipped, a.params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="folder with the SpikeFinder N.train.*.csv files")
    parser.add_argument("--configs", nargs="+", default=["neuron:10:10", "window:10:10", "neuron:10:30"],
                        help="normalize:len_pre:len_post of each configuration")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-skip", type=int, default=1)
    parser.add_argument("--features", default="raw,delta")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--latent", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--vae-epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--max-windows", type=int, default=200_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--simulated", type=int, default=0,
                        help="add the training windows of this many sets of simulated default recordings")
    parser.add_argument("--simulated-windows", type=int, default=60_000, help="simulated windows added (balanced)")
    parser.add_argument("--vae", default=None, metavar="CONFIG",
                        help="also train the calcium VAE and the SVM probe for this configuration")
    parser.add_argument("--vae-max-windows", type=int, default=60_000, help="training windows of the VAE")
    args = parser.parse_args()

    recordings = calspike.read_spikefinder(args.data, "train")
    print(f"SpikeFinder {', '.join(r.name for r in recordings)}: {sum(r.neurons for r in recordings)} neurons; "
          f"{args.folds} folds by neuron (seed {args.seed}); features {args.features}; train skip "
          f"{args.train_skip}; torch {torch.__version__} on {calspike.train.choose_device(args.device)}")
    summary = []
    for config in args.configs:
        normalize, pre, post = config.split(":")
        print(f"{normalize} normalisation, windows of {pre} + {post} frames:", flush=True)
        scores = run_config(recordings, normalize, int(pre), int(post), args, with_vae=config == args.vae)
        summary.append((config, scores))
    print("\nbalanced accuracy on held-out neurons, mean over folds (min - max):")
    for config, scores in summary:
        cells = [f"{name} {np.mean(v):.3f} ({np.min(v):.3f} - {np.max(v):.3f})" for name, v in scores.items() if v]
        ratio = np.mean(scores["lstm"]) / np.mean(scores["logistic"])
        print(f"  {config:<14} " + "; ".join(cells) + f"; LSTM / logistic {ratio:.3f}x")


if __name__ == "__main__":
    main()
