"""cbedfeat: physics-aware features and space-group classifiers for CBED patterns.

Importing the package is deliberately cheap (no NumPy, no HDF5): the command line
``cbedfeat --version`` must stay fast, so heavy modules are imported where used.
"""

from cbedfeat._version import __version__

__all__ = ["__version__"]
