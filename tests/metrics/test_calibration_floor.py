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
