from .errors import (
    METADATA_KINDS,
    BadAttributeError,
    BadStackError,
    CBEDDataError,
    FileOpenError,
    MissingAttributeError,
    MissingDataError,
    Problem,
    ReadError,
)
from .ornl import (
    SPLITS,
    ORNLFile,
    find_h5_files,
    iter_file,
    iter_samples,
    list_groups,
    open_h5,
    read_group,
    read_sample,
    split_of,
)
from .ornl_write import ORNLWriter
from .reference import load_ornl_counts
from .sample import Sample, SampleMeta
from .summary import DataSummary, summarize

__all__ = [
    "BadAttributeError",
    "BadStackError",
    "CBEDDataError",
    "DataSummary",
    "FileOpenError",
    "METADATA_KINDS",
    "MissingAttributeError",
    "MissingDataError",
    "ORNLFile",
    "ORNLWriter",
    "Problem",
    "ReadError",
    "SPLITS",
    "Sample",
    "SampleMeta",
    "find_h5_files",
    "iter_file",
    "iter_samples",
    "list_groups",
    "load_ornl_counts",
    "open_h5",
    "read_group",
    "read_sample",
    "split_of",
    "summarize",
]
