"""The last step of `calspike run`: the label-conditioned VAE.

What it generates per class, and the latent traversals of both calcium VAEs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from calspike.models import CalciumVAE
from calspike.tutorial import generative, vae_plots, workflows
from calspike.tutorial.context import RunContext, labels
from calspike.tutorial.stacks import FeatureStacks
from calspike.tutorial.svm_step import fit_latent_svm
from calspike.tutorial.vae_steps import CalciumVAEResult

GENERATED_SAMPLES = 500  # traces the conditional VAE draws per class


@dataclass(frozen=True)
class ConditionalVAEResult:
    """The conditional VAE's report entry: metrics["conditional_vae"].

    Its explained variance on held-out (centred) windows, the SVM's held-out balanced
    accuracy on its latents, and the rises of generated and real windows per class
    (`generative.compare_rises`).
    """

    metrics: dict[str, Any]


def conditional_vae(
    context: RunContext, stacks: FeatureStacks, vae: CalciumVAEResult, frame_rate: float
) -> ConditionalVAEResult:
    """Train the label-conditioned VAE on centred windows; draw traces per class; traverse.

    Checkpoint models/conditional_vae.pt; figures generated (its traces per class beside
    real held-out windows) and traversal (this VAE's and the calcium VAE's `vae`).
    `frame_rate` (Hz): the figures' time axes.
    """
    p, kinds, split = context.params, context.vae_kinds, stacks.split
    # it models each window's shape: the windows minus their own means
    train, test = stacks.windows("vae_train", centred=True), stacks.windows("test", centred=True)
    val = None if split.val is None else stacks.windows("val", centred=True)
    result = workflows.train_vae(
        train,
        val,
        kinds=kinds,
        conditional=True,
        hidden=p["hidden"],
        latent=p["latent"],
        beta=p["conditional_beta"],
        epochs=p["vae_epochs"],
        checkpoint=context.model_path("conditional_vae"),
        stacks=(
            stacks.stack("vae_train", kinds, centred=True),
            None if val is None else stacks.stack("val", kinds, centred=True),
        ),
        **context.fit_args(),
    )
    conditional = cast(CalciumVAE, result.model)
    spike, no_spike = generative.generate_by_class(conditional, GENERATED_SAMPLES, seed=p["seed"])
    test_stack = stacks.stack("test", kinds, centred=True)
    metrics = {
        "explained_variance": workflows.explained_variance(
            conditional, test, kinds, stack=test_stack
        ),
        "epochs_run": len(result.history),
        "samples_per_class": GENERATED_SAMPLES,
        "windows": "centred",
        "svm_test_balanced_accuracy_on_draws": fit_latent_svm(
            context, stacks, conditional, draw_seed=p["seed"], centre=True
        ).scores["test_balanced_accuracy"],
        "svm_test_balanced_accuracy": fit_latent_svm(
            context, stacks, conditional, centre=True
        ).scores["test_balanced_accuracy"],
        **generative.compare_rises(spike, no_spike, test.windows, labels(test), p["len_pre"]),
    }
    context.figure(
        "generated",
        vae_plots.generated(spike, no_spike, test.windows, labels(test), p["len_pre"], frame_rate),
    )
    conditional_latent = workflows.latent_means(conditional, test, kinds, stack=test_stack)
    context.figure(
        "traversal",
        vae_plots.traversal(
            {
                "calcium VAE": generative.traverse(vae.model, vae.test_latent),
                "conditional VAE": generative.traverse(conditional, conditional_latent),
            },
            p["len_pre"],
            frame_rate,
        ),
    )
    return ConditionalVAEResult({"conditional_vae": metrics})
