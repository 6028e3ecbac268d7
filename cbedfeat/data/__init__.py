"""The data layer: read, validate and write the ORNL CBED HDF5 layout; space-group labels.

Public names (imported lazily, so ``import cbedfeat.data.labels`` stays cheap)::

    from cbedfeat.data import (SampleMeta, Sample, ORNLWriter, iter_samples, read_sample,
        list_groups, find_h5_files, split_of, Problem, CBEDDataError)
"""

import lazy_loader

# The public names are listed once, in __init__.pyi, and imported on first use.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
