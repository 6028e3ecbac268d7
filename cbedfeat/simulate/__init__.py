"""Synthetic CBED data in the ORNL layout: crystals, zone axes, kinematic patterns.

The public names are imported lazily, so ``import cbedfeat.simulate`` stays cheap.

- :class:`Crystal`, :func:`random_crystal` (``crystals``): a random crystal of any of the
  230 space groups, checked with spglib.
- :func:`choose_zone_axes` (``zone_axes``): three symmetry-inequivalent low-index axes.
- :func:`render_pattern`, :class:`RenderOptions` (``kinematic``): one CBED pattern.
- :class:`SimulationConfig`, :func:`make_plan` (``plan``), :func:`generate_dataset`
  (``generate``): a whole data set, in parallel, deterministic and resumable.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Crystal": "crystals",
    "CrystalGenerationError": "crystals",
    "random_crystal": "crystals",
    "choose_zone_axes": "zone_axes",
    "RenderOptions": "kinematic",
    "render_pattern": "kinematic",
    "reference_reflection": "kinematic",
    "SimulationConfig": "plan",
    "make_plan": "plan",
    "generate_dataset": "generate",
    "simulate_material": "generate",
    "GenerationResult": "generate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"cbedfeat.simulate.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'cbedfeat.simulate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
