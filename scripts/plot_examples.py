"""Plot one simulated CBED stack per crystal system for the README (docs/examples.png).

Each row is one random crystal of a common space group of that crystal system, rendered
at 100 keV along its three zone axes with the demo preset's conditions, shown as
intensity ** 0.25 (as the ORNL challenge notebook displays the real patterns).

Usage: python scripts/plot_examples.py [--out docs/examples.png] [--seed 0]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

# One common ORNL space group per crystal system.
EXAMPLES = {
    "triclinic": 2,
    "monoclinic": 14,
    "orthorhombic": 62,
    "tetragonal": 139,
    "trigonal": 166,
    "hexagonal": 194,
    "cubic": 225,
}


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cbedfeat.data.labels import space_group_info
    from cbedfeat.simulate.generate import simulate_material
    from cbedfeat.simulate.plan import SimulationConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/examples.png")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    config = replace(SimulationConfig.from_preset("demo"), energies=1, seed=args.seed)

    fig, axes = plt.subplots(len(EXAMPLES), 3, figsize=(7.5, 2.6 * len(EXAMPLES)))
    for row, (system, sg) in enumerate(EXAMPLES.items()):
        ((stack, meta),) = simulate_material(config, row, sg)
        info = space_group_info(sg)
        for col in range(3):
            ax = axes[row, col]
            ax.imshow(np.asarray(stack[col]) ** 0.25, cmap="inferno", interpolation="nearest")
            uvw = " ".join(str(int(x)) for x in meta.z_dirs[col])
            ax.set_title(f"[{uvw}]  d={meta.d_hkls_angstrom[col]:.2f} A", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"{system}\n{info.symbol} ({sg})\n{meta.formula}", fontsize=8)
    fig.suptitle("cbedfeat simulate: one stack per crystal system (100 keV, I^0.25)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
