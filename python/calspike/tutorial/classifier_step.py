"""The LSTM classifier step of `calspike run`, with its logistic-regression baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from calspike.models import SpikeClassifier
from calspike.tutorial import plots, workflows
from calspike.tutorial.context import RunContext, labels
from calspike.tutorial.scores import classification_scores
from calspike.tutorial.stacks import FeatureStacks


@dataclass(frozen=True)
class ClassifierResult:
    """What the classifier step leaves for the report and the later steps.

    Attributes
    ----------
    epochs_run : int
        Epochs trained (early stopping may end it before the epochs setting).
    metrics : dict
        The report's "classifier" (its held-out scores, epochs, features and, in tutorial
        mode, its scores on its own training windows) and "logistic_regression" entries.
    """

    epochs_run: int
    metrics: dict[str, Any]

    @property
    def balanced_accuracy(self) -> float:
        """Its balanced accuracy on the held-out neurons."""
        return float(self.metrics["classifier"]["balanced_accuracy"])

    @property
    def confusion(self) -> np.ndarray:
        """Its confusion matrix (2, 2) on the held-out neurons (`scores.confusion_matrix`)."""
        return np.array(self.metrics["classifier"]["confusion"])


def lstm_classifier(
    context: RunContext, stacks: FeatureStacks, frame_rate: float
) -> ClassifierResult:
    """Train the LSTM classifier, score it and a logistic regression on held-out neurons.

    Checkpoint models/classifier.pt; figures classifier_training, roc and errors (the
    windows it was most confidently wrong about). `frame_rate` (Hz): the figures' time axes.
    """
    p, kinds, split = context.params, context.kinds, stacks.split
    test_labels = labels(split.test)
    train_stack, test_stack = stacks.stack("train", kinds), stacks.stack("test", kinds)
    val_stack = None if split.val is None else stacks.stack("val", kinds)
    result = workflows.train_classifier(
        split.train,
        split.val,
        kinds=kinds,
        hidden=p["hidden"],
        epochs=p["epochs"],
        checkpoint=context.model_path("classifier"),
        stacks=(train_stack, val_stack),
        **context.fit_args(),
    )
    model = cast(SpikeClassifier, result.model)
    probability = workflows.classifier_probability(model, split.test, kinds, stack=test_stack)
    scores = classification_scores(test_labels, probability)
    baseline, baseline_probability = logistic_baseline(
        train_stack, labels(split.train), test_stack, test_labels
    )
    classifier: dict[str, Any] = {
        **scores,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "features": kinds,
    }
    if context.tutorial:  # where the tutorial scored it: its own training windows
        fitted = workflows.classifier_probability(model, split.train, kinds, stack=train_stack)
        classifier["fitted"] = classification_scores(labels(split.train), fitted)
    context.figure(
        "classifier_training", plots.training_curves(result.history, "LSTM spike classifier")
    )
    curves = {
        "LSTM classifier": roc_points(test_labels, probability, scores["roc_auc"]),
        "logistic regression": roc_points(test_labels, baseline_probability, baseline["roc_auc"]),
    }
    context.figure("roc", plots.roc(curves))
    context.figure(
        "errors",
        plots.error_examples(
            split.test.windows, test_labels, probability, p["len_pre"], frame_rate
        ),
    )
    return ClassifierResult(
        len(result.history), {"classifier": classifier, "logistic_regression": baseline}
    )


def logistic_baseline(
    train_stack: np.ndarray,
    train_labels: np.ndarray,
    test_stack: np.ndarray,
    test_labels: np.ndarray,
) -> tuple[dict[str, Any], np.ndarray]:
    """(scores, spike probability (N,)) of a logistic regression on flattened feature stacks.

    Fitted on the training stack (N, L, C), scored on the test stack.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train = train_stack.reshape(len(train_stack), -1)
    x_test = test_stack.reshape(len(test_stack), -1)
    # standardised inputs: quad's squares span orders of magnitude more than raw values
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        x_train, train_labels
    )
    probability = model.predict_proba(x_test)[:, 1]
    return classification_scores(test_labels, probability), probability


def roc_points(
    truth: np.ndarray, scores: np.ndarray, auc: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """(false positive rates, true positive rates, `auc`) of `scores` for bool labels `truth`."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth, scores)
    return fpr, tpr, auc
