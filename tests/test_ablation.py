"""The ablation: its map sets, one run of them all on the same splits, and the table's two families."""

import dataclasses

import numpy as np
import pytest

from jaxsep.config import RunConfig, TrainConfig
from jaxsep.errors import FeatureFileError
from jaxsep.features.toy import toy_features
from jaxsep.results.ablation import ablation_markdown
from jaxsep.results.statistics import compare, holm
from jaxsep.results.tables import paired_values, reference_rows, table_rows
from jaxsep.workflows.ablation import ablation_map_sets


def test_map_sets_by_hand():
    everything = ("mix", "novox", "bass", "drums", "other", "vocals")
    assert ablation_map_sets(everything) == [
        ("bass",), ("drums",), ("other",), ("vocals",),
        ("bass", "drums"), ("bass", "other"), ("drums", "other"), ("bass", "drums", "other"),
        ("bass", "drums", "other", "vocals"), ("novox",), ("mix",)]
    assert ablation_map_sets(("novox", "bass", "drums", "other")) == [
        ("bass",), ("drums",), ("other",), ("bass", "drums"), ("bass", "other"), ("drums", "other"),
        ("bass", "drums", "other"), ("novox",)]
    with pytest.raises(FeatureFileError, match=r"missing \['drums'\]"):
        ablation_map_sets(("mix", "novox", "bass", "other"))


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    from jaxsep.workflows.ablation import run_ablation

    toy = toy_features(songs_per_class=(6, 6, 6), n_mels=8, frames=8, strength=2.0, seed=2, signal_maps=("drums",))
    keep = [toy.maps.index(m) for m in ("novox", "bass", "drums", "other")]  # no vocals, no mix: 8 map sets
    features = dataclasses.replace(toy, mels=toy.mels[..., keep], maps=tuple(toy.maps[i] for i in keep))
    config = RunConfig(trials=2, train=TrainConfig(epochs=1, filters=(2, 2)))
    folder = tmp_path_factory.mktemp("ablation") / "run"
    return folder, run_ablation(features, config, folder, modifiers=":pool", say=lambda _: None)


def test_every_map_set_runs_as_a_cnn_and_a_reference_row_on_the_same_splits(ablation):
    folder, results = ablation
    assert results["config"]["baseline"] == "novox:pool" and results["ablation"]
    assert list(results["models"])[:2] == ["bass:pool", "drums:pool"] and len(results["models"]) == 8
    assert len(results["reference"]) == 8 and "logreg:bass+drums+other" in results["reference"]
    splits = {name: [t["test_songs"] for t in entry["trials"]]
              for name, entry in {**results["models"], **results["reference"]}.items()}
    assert len({str(s) for s in splits.values()}) == 1
    assert {"ablation.md", "forest.png", "report.html"} <= {p.name for p in folder.iterdir()}
    assert "Which maps carry the genre" in (folder / "report.html").read_text()


def test_each_family_compares_with_its_own_baseline_and_adjusts_within_itself(ablation):
    _, results = ablation
    ratio = results["split"]["test"] / results["split"]["train"]
    rows = {r["model"]: r for r in reference_rows(results)}
    assert rows["logreg:novox"]["kind"] == "baseline"
    mine, theirs = paired_values(results["reference"]["logreg:drums"], results["reference"]["logreg:novox"], "f1")
    assert rows["logreg:drums"]["f1_vs_baseline_mean_difference"] == pytest.approx(
        compare(mine, theirs, test_train_ratio=ratio).mean_difference)
    compared = [r for r in rows.values() if r["kind"] != "baseline"]
    np.testing.assert_allclose([r["f1_vs_baseline_p_holm"] for r in compared],
                               holm([r["f1_vs_baseline_p"] for r in compared]))
    cnn = [r for r in table_rows(results) if r["kind"] == "model"]
    assert len(cnn) == 7  # Holm over the seven CNNs compared with novox:pool, the reference rows apart
    np.testing.assert_allclose([r["f1_vs_baseline_p_holm"] for r in cnn], holm([r["f1_vs_baseline_p"] for r in cnn]))
    table = ablation_markdown(results)
    assert "| drums | " in table and "| novox | " in table and table.count("(baseline)") == 2
