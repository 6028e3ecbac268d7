"""Extraction: HDF5 files (or arrays) -> per-file Parquet parts -> one feature table.

:mod:`~cbedfeat.extraction.extract` drives a run (resume, skip report, combine),
:mod:`~cbedfeat.extraction.parts` writes and reads the parts, and
:mod:`~cbedfeat.extraction.runners` runs files in this process, in worker processes or
on Dask.
"""
