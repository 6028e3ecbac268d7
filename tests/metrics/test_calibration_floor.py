"""The ECE that sampling alone gives to a perfectly calibrated model."""

import numpy as np

from cbedfeat.metrics.calibration import ece_of_calibrated, probability_scores


def test_floor_shrinks_with_rows_and_brackets_a_calibrated_sample():
    rng = np.random.default_rng(1)
    classes = np.arange(5)

    def sample(n):
        logits = rng.normal(size=(n, 5)) * 2
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        y = np.array([rng.choice(5, p=row) for row in p])  # labels drawn from p: calibrated
        return y, p

    y, p = sample(600)
    small = ece_of_calibrated(p, n_draws=300)
    observed = probability_scores(y, p, classes)["ece"]
    assert small["lo"] <= observed <= small["hi"]
    assert small["lo"] > 0.005  # a few hundred rows never give an ECE of 0
    _, big = sample(20000)
    large = ece_of_calibrated(big, n_draws=50)
    assert large["median"] < small["median"] / 3  # about 1 / sqrt(n)


def test_split_conformal_range_matches_the_sets_and_a_simulation():
    from cbedfeat.metrics.calibration import split_conformal_range
    from cbedfeat.models.conformal import ConformalSets

    rng = np.random.default_rng(2)
    n, m, coverage = 60, 150, 0.9
    out = split_conformal_range(n, m, coverage)
    # The k of the formula is the rule of ConformalSets: a candidate enters when its
    # score is at most the k-th smallest calibration score.
    k = round(out["expected"] * (n + 1))
    scores = rng.random(n)
    classes = np.array([1, 2])
    proba = np.column_stack([1 - scores, scores])
    sets = ConformalSets.fit(proba, np.ones(n, int), classes)
    kth = np.sort(scores)[k - 1]
    probe = np.array([kth - 1e-9, kth + 1e-9])
    inside = sets.predict_set(np.column_stack([1 - probe, probe]), coverage)[:, 0]
    assert inside.tolist() == [True, False]
    # Simulated split conformal: uniform scores, n calibration and m test rows.
    cal = np.sort(rng.random((20000, n)), axis=1)[:, k - 1]
    observed = (rng.random((20000, m)) <= cal[:, None]).mean(axis=1)
    assert abs(observed.mean() - out["expected"]) < 0.002
    assert abs(observed.std() - out["sd"]) < 0.1 * out["sd"]
    assert abs(cal.std() - out["calibration_sd"]) < 0.1 * out["calibration_sd"]
    lo, hi = np.percentile(observed, [2.5, 97.5])
    assert abs(lo - out["lo"]) <= 2 / m and abs(hi - out["hi"]) <= 2 / m
    assert out["expected"] >= coverage and out["lo"] < coverage < out["hi"]
    assert split_conformal_range(5, 10, 0.9)["expected"] == 1.0  # too few scores
