"""The two VAE steps of `calspike run`: the toy VAE of one-hot digits, and the calcium VAE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from calspike.models import CalciumVAE, ToyVAE, one_hot_digits
from calspike.training import fit, save_model
from calspike.tutorial import analysis, plots, workflows
from calspike.tutorial.context import RunContext, labels
from calspike.tutorial.stacks import FeatureStacks

TOY_DIGITS = 10_000  # one-hot digits the toy VAE trains on
TOY_SHOWN = 1_000  # of them, drawn in its latent space


@dataclass(frozen=True)
class ToyVAEResult:
    """The toy VAE's report entry: metrics["toy_vae"] (digits reconstructed, its loss)."""

    metrics: dict[str, Any]


def toy_vae(context: RunContext) -> ToyVAEResult:
    """Train the toy VAE on one-hot digits with the tutorial's optimiser, whatever the mode.

    Checkpoint models/toy_vae.pt; figure toy_latent (one draw per digit from q(z|x)).
    """
    p = context.params
    torch.manual_seed(p["seed"])
    toy = ToyVAE(beta=p["toy_beta"], loss=p["toy_loss"])
    digits = one_hot_digits(TOY_DIGITS, seed=p["seed"])
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
        device=context.device,
        seed=p["seed"],
        progress=context.progress,
    )
    metrics = {
        "reconstruction_accuracy": result.history[-1]["train_accuracy"],
        "loss": p["toy_loss"],
    }
    toy.eval().cpu()
    shown = digits[:TOY_SHOWN]
    with torch.no_grad():  # latent vectors drawn as in training, so each digit's spread shows
        mean, log_var = toy.encode(shown, return_log_var=True)
        noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(p["seed"]))
        sampled = (mean + noise * torch.exp(0.5 * log_var)).numpy()
    context.figure("toy_latent", plots.toy_latent(sampled, shown.argmax(dim=1).numpy()))
    save_model(toy, context.model_path("toy_vae"))
    return ToyVAEResult({"toy_vae": metrics})


@dataclass(frozen=True)
class CalciumVAEResult:
    """What the calcium VAE step leaves for the later steps and the report.

    Attributes
    ----------
    model : CalciumVAE
        The trained VAE (evaluation mode is set by whoever uses it).
    test_latent : ndarray, shape (N, latent)
        The latent means of the held-out windows.
    metrics : dict
        The report's "vae" entry: explained variance on held-out windows, epochs, features and
        the PCA of latent means.
    """

    model: CalciumVAE
    test_latent: np.ndarray
    metrics: dict[str, Any]


def calcium_vae(context: RunContext, stacks: FeatureStacks, frame_rate: float) -> CalciumVAEResult:
    """Train the calcium VAE, score its held-out reconstructions, and PCA its latent means.

    The tutorial's PCA is of its fresh 1,000 windows; calspike's of the held-out windows.
    Checkpoint models/vae.pt; figures vae_training, reconstructions and latent_pca.
    `frame_rate` (Hz): the figures' time axes.
    """
    p, kinds, split = context.params, context.vae_kinds, stacks.split
    result = workflows.train_vae(
        split.vae_train,
        split.val,
        kinds=kinds,
        hidden=p["hidden"],
        latent=p["latent"],
        beta=p["beta"],
        epochs=p["vae_epochs"],
        checkpoint=context.model_path("vae"),
        stacks=(
            stacks.stack("vae_train", kinds),
            None if split.val is None else stacks.stack("val", kinds),
        ),
        **context.fit_args(),
    )
    vae = cast(CalciumVAE, result.model)
    test_stack = stacks.stack("test", kinds)
    test_latent = workflows.latent_means(vae, split.test, kinds, stack=test_stack)
    pca_part = "test" if split.fresh is None else "fresh"
    pca_latent = (
        test_latent
        if split.fresh is None
        else workflows.latent_means(vae, split.fresh, kinds, stack=stacks.stack("fresh", kinds))
    )
    pca = analysis.latent_pca(pca_latent, 10, p["seed"])
    metrics = {
        "explained_variance": workflows.explained_variance(
            vae, split.test, kinds, stack=test_stack
        ),
        "epochs_run": len(result.history),
        "features": kinds,
        "latent_pca_explained_variance": pca.explained_variance_ratio.tolist(),
        "latent_pca_windows": "held-out windows"
        if split.fresh is None
        else "fresh training-neuron windows",
    }
    context.figure("vae_training", plots.training_curves(result.history, "Calcium VAE"))
    shown = split.test.subset(np.arange(min(6, len(split.test))))
    reconstruction = workflows.reconstruct(vae, shown, kinds, stack=test_stack[: len(shown)])
    context.figure(
        "reconstructions",
        plots.reconstructions(
            shown.windows, reconstruction, shown.did_spike, p["len_pre"], frame_rate
        ),
    )
    context.figure(
        "latent_pca",
        plots.latent_pca(
            pca.explained_variance_ratio, pca.projected, labels(split.windows(pca_part))
        ),
    )
    return CalciumVAEResult(vae, test_latent, {"vae": metrics})
