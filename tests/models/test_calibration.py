"""Temperature scaling, conformal sets, the calibration hold-outs and the calibration metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from cbedfeat.metrics.calibration import probability_scores, reliability_bins, set_metrics
from cbedfeat.models.calibration import (
    Calibration,
    apply_temperature,
    fit_temperature,
    temperature_interval,
)
from cbedfeat.models.conformal import ConformalSets, MaterialSets
from cbedfeat.testing import make_feature_table
from cbedfeat.workflows.calibrate import (
    calibration_split,
    fit_calibration,
    mark_calibration_rows,
    material_scores_input,
)

CLASSES = np.array([2, 14, 62, 139, 194, 225])


def _known_problem(n, seed=0):
    """Rows with known class probabilities over :data:`CLASSES` and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = softmax(rng.normal(0.0, 1.5, size=(n, CLASSES.size)), axis=1)
    y = np.array([rng.choice(CLASSES.size, p=row) for row in p])
    return p, y


def test_temperature_recovers_the_overconfidence():
    p, y = _known_problem(6000, seed=1)
    over = softmax(3.0 * np.log(p), axis=1)  # the model's logits three times too large
    t = fit_temperature(over, y)
    assert t == pytest.approx(3.0, rel=0.1)
    calibrated = apply_temperature(over, t)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert (np.argmax(calibrated, axis=1) == np.argmax(over, axis=1)).all()
    classes = CLASSES
    y = CLASSES[y]
    before, after = probability_scores(y, over, classes), probability_scores(y, calibrated, classes)
    assert after["log_loss"] < before["log_loss"] and after["ece"] < before["ece"]
    assert after["brier"] < before["brier"]


def test_temperature_interval_resamples_materials_and_finds_real_miscalibration():
    p, y = _known_problem(1500, seed=11)
    groups = np.arange(y.size)
    lo, hi = temperature_interval(p, y, groups, seed=0)
    assert lo < 1.0 < hi  # labels drawn from p: calibrated
    over = softmax(2.0 * np.log(p), axis=1)
    lo_o, hi_o = temperature_interval(over, y, groups, seed=0)
    assert 1.0 < lo_o < 2.0 < hi_o
    # Four identical rows per material are one material's evidence, not four: the
    # interval stays as wide as with one row each.
    lo4, hi4 = temperature_interval(
        np.repeat(p, 4, axis=0), np.repeat(y, 4), np.repeat(groups, 4), seed=0
    )
    assert (hi4 - lo4) > 0.8 * (hi - lo)


def test_conformal_coverage_is_nominal_on_a_known_problem():
    p_cal, y_cal = _known_problem(3000, seed=2)
    p_test, y_test = _known_problem(4000, seed=3)
    classes = CLASSES
    y_cal, y_test = classes[y_cal], classes[y_test]
    cs = ConformalSets.fit(p_cal, y_cal, classes)
    for coverage in (0.8, 0.9):
        sets = cs.predict_set(p_test, coverage)
        got = set_metrics(y_test, sets, classes)["coverage"]
        # Sampling error of the test rows and of the calibration quantile, 3 sigma.
        sigma = np.sqrt(coverage * (1 - coverage) * (1 / y_test.size + 1 / y_cal.size))
        assert abs(got - coverage) < 3 * sigma + 1 / (y_cal.size + 1)
    mondrian = cs.predict_set(p_test, 0.9, mondrian=True)
    per_class = [mondrian[y_test == c, i].mean() for i, c in enumerate(classes)]
    assert min(per_class) > 0.9 - 3 * np.sqrt(0.09 / (y_test == classes[0]).sum()) - 0.03


def _known_materials(n, stacks, seed):
    """Materials whose true class is drawn from known probabilities, seen in 1..k noisy stacks.

    Returns the combined (summed log) probabilities of each material, its class and stack
    count, and the stacks' own probabilities and classes.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(n, CLASSES.size))
    y = np.array([rng.choice(CLASSES.size, p=row) for row in softmax(logits, axis=1)])
    k = rng.choice(stacks, size=n)
    # The stacks of a material share its logits: they are far from independent.
    stack_logs = [
        log_softmax(logits[i] + rng.normal(0.0, 0.5, size=(k[i], CLASSES.size)), axis=1)
        for i in range(n)
    ]
    combined = softmax(np.array([ls.sum(axis=0) for ls in stack_logs]), axis=1)
    return combined, CLASSES[y], k, np.exp(np.vstack(stack_logs)), CLASSES[np.repeat(y, k)]


def _covered(sets, y):
    column = {c: i for i, c in enumerate(CLASSES.tolist())}
    return sets[np.arange(y.size), [column[c] for c in y.tolist()]]


def test_material_sets_cover_whole_materials_at_the_nominal_rate():
    p_cal, y_cal, k_cal, stack_p, stack_y = _known_materials(2000, [1, 4], seed=8)
    p_test, y_test, k_test, _, _ = _known_materials(3000, [1, 4], seed=9)
    names = np.array([f"m{i}" for i in range(y_cal.size)])
    ms = MaterialSets.fit(p_cal, y_cal, CLASSES, k_cal, names)
    again = Calibration(material_conformal=ms).to_dict()
    ms = Calibration.from_dict(again).material_conformal
    covered = _covered(ms.predict_set(p_test, k_test, 0.9), y_test)
    for select in (np.ones(y_test.size, bool), k_test == 1, k_test == 4):
        n_cal = y_cal.size if select.all() else (k_cal == k_test[select][0]).sum()
        sigma = np.sqrt(0.09 * (1 / select.sum() + 1 / n_cal))
        assert abs(covered[select].mean() - 0.9) < 3 * sigma + 1 / (n_cal + 1)
    # The stack-level scores know nothing of combinations: four correlated stacks
    # summed are over-confident, and their sets miss far more often than promised.
    stack_sets = ConformalSets.fit(stack_p, stack_y, CLASSES).predict_set(p_test, 0.9)
    four = k_test == 4
    assert _covered(stack_sets, y_test)[four].mean() < 0.9 - 0.1
    with pytest.raises(ValueError, match="one score only"):
        MaterialSets.fit(p_cal[:2], y_cal[:2], CLASSES, k_cal[:2], np.array(["a", "a"]))


def test_mondrian_pools_rare_classes_and_falls_back_to_all_scores():
    rng = np.random.default_rng(4)
    classes = np.array([3, 7, 11])
    y = np.array([3] * 50 + [7] * 40 + [11] * 2)
    p = softmax(rng.normal(size=(y.size, 3)), axis=1)
    cs = ConformalSets.fit(p, y, classes, min_class_scores=20)
    assert cs.categories().tolist() == [3, 7, -1]
    test = softmax(rng.normal(size=(30, 3)), axis=1)
    # Two pooled scores are too few: class 11 is judged against every score, as marginally.
    marginal = cs.predict_set(test, 0.9)
    assert (cs.predict_set(test, 0.9, mondrian=True)[:, 2] == marginal[:, 2]).all()
    again = ConformalSets.from_dict(cs.to_dict())
    assert (
        again.predict_set(test, 0.9, mondrian=True) == cs.predict_set(test, 0.9, mondrian=True)
    ).all()


def test_calibration_splits_never_share_a_material_with_the_fit_rows():
    table = make_feature_table(n_classes=10, max_materials=24, seed=5)
    train = table[table["split"] == "train"]
    for seed in range(3):
        split = calibration_split(train["space_group"], train["material"], fraction=0.3, seed=seed)
        assert (split.fit.astype(int) + split.temperature + split.conformal == 1).all()
        assert split.temperature.any() and split.conformal.any()
        mats = [set(train["material"][m]) for m in (split.fit, split.temperature, split.conformal)]
        assert not (mats[0] & mats[1]) and not (mats[0] & mats[2]) and not (mats[1] & mats[2])
        # Every class keeps a fitting material.
        assert set(train["space_group"][split.fit]) == set(train["space_group"])
    marked, split, rows = mark_calibration_rows(table, fraction=0.3, seed=0)
    fit_mats = set(marked.loc[marked["split"] == "train", "material"])
    held_mats = set(marked.loc[marked["split"] == "calibration", "material"])
    assert held_mats == set(rows["material"][~split.fit]) and not fit_mats & held_mats
    assert (
        marked.loc[table["split"] != "train", "split"]
        == table.loc[table["split"] != "train", "split"]
    ).all()


def test_conformal_part_is_a_uniform_draw_of_the_held_out_materials():
    # A long tail: most classes have a handful of materials, so most held-out materials
    # are the only one of their class in the hold-out. A stratified cut that sends those
    # to one side leaves the conformal part without rare classes.
    per_class = np.maximum(2, (300 / np.arange(1, 61) ** 1.2).astype(int))
    y = np.repeat(np.arange(60), per_class)
    materials = np.array([f"m{i}" for i in range(y.size)])
    lone_in_conformal, lone = 0, 0
    for seed in range(6):
        split = calibration_split(y, materials, fraction=0.2, conformal_share=0.5, seed=seed)
        held = ~split.fit
        n_held = np.unique(materials[held]).size
        assert np.unique(materials[split.conformal]).size == round(n_held * 0.5)
        classes, counts = np.unique(y[held], return_counts=True)
        lone_classes = classes[counts == 1]
        in_lone = np.isin(y, lone_classes) & held
        lone += in_lone.sum()
        lone_in_conformal += (in_lone & split.conformal).sum()
    share = lone_in_conformal / lone
    assert lone > 100
    # Binomial(lone, 1/2) within 4 sigma.
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / lone)
    other = calibration_split(y, materials, fraction=0.2, conformal_share=0.25, seed=0)
    n_held = np.unique(materials[~other.fit]).size
    assert np.unique(materials[other.conformal]).size == round(n_held * 0.25)
    with pytest.raises(ValueError, match="conformal_share"):
        calibration_split(y, materials, conformal_share=1.0)


def test_fit_calibration_round_trips_through_json():
    from sklearn.linear_model import LogisticRegression

    table = make_feature_table(n_classes=6, max_materials=20, seed=6)
    marked, split, rows = mark_calibration_rows(table, fraction=0.3, seed=0)
    names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
    fit = marked[marked["split"] == "train"]
    model = LogisticRegression(max_iter=500).fit(
        fit[names].to_numpy(), fit["space_group"].to_numpy()
    )
    cal = fit_calibration(model, names, rows[split.temperature], rows[split.conformal])
    assert cal.temperature > 0 and cal.conformal is not None
    assert cal.info["conformal_materials"] == rows["material"][split.conformal].nunique()
    again = Calibration.from_dict(cal.to_dict())
    assert again.temperature == cal.temperature
    np.testing.assert_array_equal(again.conformal.scores, cal.conformal.scores)


def test_a_temperature_the_rows_cannot_tell_from_one_is_not_applied():
    class Fixed:
        """A model whose probabilities are given, indexed by the first feature."""

        def __init__(self, proba):
            self.proba, self.classes_ = proba, CLASSES

        def predict_proba(self, x):
            return self.proba[x[:, 0].astype(int)]

    import pandas as pd

    def rows(proba, y, offset):
        return pd.DataFrame(
            {
                "f": np.arange(y.size) + offset,
                "space_group": CLASSES[y],
                "material": [f"m{i + offset}" for i in range(y.size)],
            }
        )

    p, y = _known_problem(800, seed=12)
    for proba, expect_one in ((p, True), (softmax(2.0 * np.log(p), axis=1), False)):
        model = Fixed(proba)
        cal = fit_calibration(
            model, ["f"], rows(proba[:400], y[:400], 0), rows(p[400:], y[400:], 400)
        )
        lo, hi = cal.info["temperature_interval"]
        assert lo <= cal.info["temperature_fitted"] <= hi
        assert (cal.temperature == 1.0) == expect_one
        if not expect_one:
            assert cal.temperature == cal.info["temperature_fitted"] > 1.4
    model = Fixed(p)
    always = fit_calibration(
        model, ["f"], rows(p[:400], y[:400], 0), rows(p[400:], y[400:], 400), temperature_level=None
    )
    assert always.temperature == always.info["temperature_fitted"] != 1.0
    assert always.info["temperature_interval"] is None


def test_material_scores_come_from_conformal_materials_only():
    from sklearn.linear_model import LogisticRegression

    table = make_feature_table(n_classes=6, max_materials=20, samples_per_material=3, seed=10)
    marked, split, rows = mark_calibration_rows(table, fraction=0.3, seed=0)
    names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
    fit = marked[marked["split"] == "train"]
    model = LogisticRegression(max_iter=500).fit(
        fit[names].to_numpy(), fit["space_group"].to_numpy()
    )
    conformal_rows = rows[split.conformal]
    cal = fit_calibration(model, names, rows[split.temperature], conformal_rows)
    ms = cal.material_conformal
    known = conformal_rows[conformal_rows["space_group"].isin(model.classes_)]
    assert set(ms.materials) == set(known["material"])
    assert not set(ms.materials) & set(fit["material"])
    assert not set(ms.materials) & set(rows["material"][split.temperature])
    stacks = known.groupby("material").size()
    assert ms.n_stacks.tolist() == stacks.loc[ms.materials].tolist() and (ms.n_stacks == 3).all()
    # One score per material: the combined probability of its true class.
    calibrated = cal.calibrate(model.predict_proba(known[names].to_numpy()))
    combined, y_m, n_stacks, keys = material_scores_input(
        calibrated, known["space_group"].to_numpy(), known["material"].to_numpy()
    )
    column = {c: i for i, c in enumerate(model.classes_.tolist())}
    expected = 1 - combined[np.arange(keys.size), [column[c] for c in y_m.tolist()]]
    np.testing.assert_allclose(ms.sets.scores, expected)
    with pytest.raises(ValueError, match="different space groups"):
        material_scores_input(calibrated[:2], np.array([2, 14]), np.array(["a", "a"]))


def test_reliability_bins_and_ece_by_hand():
    classes = np.array([1, 2])
    proba = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    y = np.array([1, 2, 1, 1])
    bins = reliability_bins(y, proba, classes, n_bins=10)
    assert bins["count"][9] == 2 and bins["count"][5] == 2
    assert bins["accuracy"][9] == 0.5 and bins["accuracy"][5] == 0.5
    scores = probability_scores(y, proba, classes, n_bins=10)
    assert scores["ece"] == pytest.approx((2 * 0.45 + 2 * 0.05) / 4)
    assert scores["n_unknown_class"] == 0


def test_set_metrics_by_system_and_rarity():
    classes = np.array([14, 62, 225])
    sets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=bool)
    y = np.array([14, 62, 62, 225])
    m = set_metrics(y, sets, classes, rare_classes=[225], coverage=0.9)
    assert m["coverage"] == 0.5 and m["mean_set_size"] == 1.25
    assert m["by_crystal_system"]["monoclinic"] == {"n": 1, "coverage": 1.0}
    assert m["by_crystal_system"]["orthorhombic"] == {"n": 2, "coverage": 0.5}
    assert m["rare"] == {"n": 1, "coverage": 0.0} and m["rare_classes"][0]["space_group"] == 225
    assert m["set_size_counts"] == {"1": 3, "2": 1}
