"""Reports written for people: the evaluation report (HTML, figures, metrics.json)."""
