"""Exploratory analysis of a CBED data set (question 0): :func:`run_eda` writes the report.

:mod:`~cbedfeat.eda.run` drives it; :mod:`~cbedfeat.eda.target_tables` counts the labels
and properties, :mod:`~cbedfeat.eda.patterns` summarises the patterns,
:mod:`~cbedfeat.eda.featstats` the feature table, :mod:`~cbedfeat.eda.figures` draws and
:mod:`~cbedfeat.eda.html` writes the page.
"""

import lazy_loader

# The public names are listed once, in __init__.pyi, and imported on first use.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
