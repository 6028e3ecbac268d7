"""Synthetic CBED data in the ORNL layout: crystals, zone axes, kinematic patterns.

The public names are imported lazily, so ``import cbedfeat.simulate`` stays cheap.

- :class:`Crystal`, :func:`random_crystal` (``crystals``): a random crystal of any of the
  230 space groups, checked with spglib.
- :func:`choose_zone_axes` (``zone_axes``): three symmetry-inequivalent low-index axes.
- :func:`render_pattern`, :class:`RenderOptions` (``kinematic``): one CBED pattern.
- :class:`SimulationConfig`, :func:`make_plan` (``plan``), :func:`generate_dataset`
  (``generate``): a whole data set, in parallel, deterministic and resumable.
"""

import lazy_loader

# The public names are listed once, in __init__.pyi, and imported on first use.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
