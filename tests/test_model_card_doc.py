"""The shipped model's card (docs/model-card.md) is what benchmarks/model_card.py writes from the
shipped checkpoint and the committed benchmark JSON: nobody typed its numbers, and a retrained
model or a new benchmark run without a regenerated card fails here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from calspike.spikes.model_card import ModelCard
from calspike.spikes.rate import load_rate_model

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "reference" / "ground_truth_cv.json"


def _card_module():
    spec = importlib.util.spec_from_file_location(
        "model_card", ROOT / "benchmarks" / "model_card.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_model_card_is_generated_from_the_benchmark_and_the_checkpoint():
    model_card = _card_module()
    _, extra = load_rate_model()
    bench = json.loads(RESULTS.read_text())
    expected = model_card.card_text(ModelCard.from_dict(extra), bench, "spike_rate_default.pt")
    assert (ROOT / "docs" / "model-card.md").read_text() == expected, (
        "regenerate: python benchmarks/model_card.py benchmarks/reference/ground_truth_cv.json"
    )


def test_the_benchmark_scored_every_dataset_once_and_the_shipped_recipe():
    bench = json.loads(RESULTS.read_text())
    folds = [d for fold in bench["folds"].values() for d in fold]
    assert len(folds) == len(set(folds)) == len(bench["summary"]["datasets"])
    assert {row["dataset"] for row in bench["neurons"]} == set(folds)
    _, extra = load_rate_model()
    card = ModelCard.from_dict(extra)
    assert set(card.train_datasets or {}) == set(folds)  # shipped: trained on all of them
    assert card.time_warps == bench["recipe"]["warps"]
    assert card.balance == bench["recipe"]["balance"]
    assert (card.dff_spread_range is not None) == bench["recipe"]["dff_scale"]
    assert card.count_scale is not None and 0 < card.count_scale < 10  # calibrated
    model, _ = load_rate_model()
    recipe = bench["recipe"]
    assert (model.rate, model.subframes, model.config["channels"], model.members) == (
        recipe["rate"],
        recipe["subframes"],
        recipe["channels"],
        recipe["members"],
    )
    assert model.config["dilations"] == recipe["dilations"]
    assert model.dff_scale == recipe["dff_scale"]
    assert model.config["noise"] == recipe["noise"]
