from .crystals import Crystal, CrystalGenerationError, random_crystal
from .generate import GenerationResult, generate_dataset, simulate_material
from .kinematic import RenderOptions, reference_reflection, render_pattern
from .plan import SimulationConfig, make_plan
from .zone_axes import choose_zone_axes

__all__ = [
    "Crystal",
    "CrystalGenerationError",
    "GenerationResult",
    "RenderOptions",
    "SimulationConfig",
    "choose_zone_axes",
    "generate_dataset",
    "make_plan",
    "random_crystal",
    "reference_reflection",
    "render_pattern",
    "simulate_material",
]
