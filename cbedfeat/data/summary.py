"""Summarise a set of ORNL-layout files: counts, label balance, attribute ranges, problems.

This is the library side of ``cbedfeat inspect``: one streaming pass over the samples
(nothing is kept but counters and ranges), every problem recorded. Pattern problems
(the sample or file is unusable everywhere) and metadata problems (the pattern is
usable, the sample is unlabelled: predicted and featurised, never trained or evaluated
on) are kept apart; see :data:`cbedfeat.data.errors.METADATA_KINDS`.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cbedfeat._util import progress_bar
from cbedfeat.data.errors import Problem
from cbedfeat.data.labels import CRYSTAL_SYSTEMS, crystal_system_of, space_group_info
from cbedfeat.data.ornl import SPLITS, find_h5_files, iter_file, split_of

# Numeric attributes whose ranges are reported (min and max over all elements).
_RANGE_ATTRS = (
    "energy_keV",
    "abc_angstrom",
    "angles_degree",
    "semi_angles_rad",
    "d_hkls_angstrom",
    "z_dirs",
    "y_dirs",
)


@dataclass
class _Range:
    lo: float = np.inf
    hi: float = -np.inf

    def add(self, values) -> None:
        arr = np.asarray(values)
        self.lo = min(self.lo, float(arr.min()))
        self.hi = max(self.hi, float(arr.max()))


@dataclass
class DataSummary:
    """What a set of files holds. Build with :func:`summarize`.

    Attributes
    ----------
    files : list of dict
        Per file: ``file``, ``split``, ``samples`` (valid), ``unlabelled``,
        ``problems`` (pattern problems), ``metadata_problems``, ``opened``.
    samples_per_split : dict
        Valid samples per split ('train', 'dev', 'test', 'unknown').
    unlabelled_per_split : dict
        Samples with a usable pattern but missing or invalid metadata, per split.
    materials_per_split : dict
        Distinct materials per split.
    space_groups : dict
        Space group -> ``{'samples': n, 'materials': m}``.
    crystal_systems : dict
        Crystal system -> ``{'samples': n, 'materials': m}``, in ITA order.
    ranges : dict
        Attribute -> ``[min, max]`` over all valid samples; ``intensity`` when stacks
        were read.
    stack_shapes : dict
        ``'3x512x512'``-style shape text -> number of samples.
    problems : list of Problem
        Pattern problems: every file or sample unusable everywhere (skipped).
    metadata_problems : list of Problem
        Metadata problems of the unlabelled samples (one per bad attribute).
    stacks_checked : bool
        Whether intensities were read and checked (False: metadata only).
    n_materials : int
        Distinct materials in all files.
    """

    files: list[dict[str, Any]] = field(default_factory=list)
    samples_per_split: dict[str, int] = field(default_factory=dict)
    unlabelled_per_split: dict[str, int] = field(default_factory=dict)
    materials_per_split: dict[str, int] = field(default_factory=dict)
    space_groups: dict[int, dict[str, int]] = field(default_factory=dict)
    crystal_systems: dict[str, dict[str, int]] = field(default_factory=dict)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    stack_shapes: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    metadata_problems: list[Problem] = field(default_factory=list)
    stacks_checked: bool = True
    n_materials: int = 0

    @property
    def n_samples(self) -> int:
        """Valid samples in all files."""
        return sum(self.samples_per_split.values())

    @property
    def n_unlabelled(self) -> int:
        """Samples with a usable pattern but missing or invalid metadata."""
        return sum(self.unlabelled_per_split.values())

    @property
    def ok(self) -> bool:
        """True when no problem of either kind was found."""
        return not self.problems and not self.metadata_problems

    @property
    def found(self) -> str:
        """Which kinds of problem were found: 'none', 'pattern', 'metadata' or 'both'."""
        kinds = (bool(self.problems), bool(self.metadata_problems))
        return {
            (False, False): "none",
            (True, False): "pattern",
            (False, True): "metadata",
            (True, True): "both",
        }[kinds]

    def to_dict(self, expected: dict[str, int] | None = None) -> dict[str, Any]:
        """JSON-ready dict (space-group keys become strings, as JSON requires).

        ``expected`` (samples per split, e.g. the real data set's from the manifest)
        is added as ``expected_samples_per_split`` when given.
        """
        out = {
            "n_files": len(self.files),
            "n_samples": self.n_samples,
            "n_unlabelled": self.n_unlabelled,
            "n_materials": self.n_materials,
            "n_problems": len(self.problems) + len(self.metadata_problems),
            "n_pattern_problems": len(self.problems),
            "n_metadata_problems": len(self.metadata_problems),
            "stacks_checked": self.stacks_checked,
            "files": self.files,
            "samples_per_split": self.samples_per_split,
            "unlabelled_per_split": self.unlabelled_per_split,
            "materials_per_split": self.materials_per_split,
            "space_groups": {str(k): v for k, v in self.space_groups.items()},
            "crystal_systems": self.crystal_systems,
            "ranges": self.ranges,
            "stack_shapes": self.stack_shapes,
            "problems": [p.to_dict() for p in self.problems],
            "metadata_problems": [p.to_dict() for p in self.metadata_problems],
        }
        if expected is not None:
            out["expected_samples_per_split"] = dict(expected)
        return out

    def to_json(self, indent: int | None = 2, expected: dict[str, int] | None = None) -> str:
        return json.dumps(self.to_dict(expected), indent=indent)

    def format_text(self, top: int = 20, expected: dict[str, int] | None = None) -> str:
        """Human-readable report; the ``top`` space groups by sample count.

        With ``expected`` (samples per split) an ``expected`` column is added.
        """
        lines = []
        n_unopened = sum(not f["opened"] for f in self.files)
        lines.append(f"files: {len(self.files)} ({n_unopened} could not be opened)")
        n_problems = len(self.problems) + len(self.metadata_problems)
        lines.append(
            f"samples: {self.n_samples} valid, {self.n_materials} materials, "
            f"{n_problems} problems"
            + ("" if self.stacks_checked else " (metadata only: intensities not read)")
        )
        lines.append(
            f"unlabelled: {self.n_unlabelled} samples with a usable pattern but missing or "
            "invalid metadata (predict and extract use them, train and evaluate do not)"
        )
        lines.append("")
        lines.append(
            f"{'split':<8}{'files':>7}{'samples':>10}{'materials':>11}"
            + (f"{'expected':>10}" if expected else "")
        )
        files_per_split = Counter(f["split"] for f in self.files)
        splits = list(self.samples_per_split)
        splits += [s for s in (expected or {}) if s not in self.samples_per_split]
        for split in splits:
            lines.append(
                f"{split:<8}{files_per_split[split]:>7}"
                f"{self.samples_per_split.get(split, 0):>10}"
                f"{self.materials_per_split.get(split, 0):>11}"
                + (f"{expected.get(split, 0):>10}" if expected else "")
            )
        lines.append("")
        ranked = sorted(self.space_groups.items(), key=lambda kv: (-kv[1]["samples"], kv[0]))
        lines.append(f"space groups: {len(ranked)} present; top {min(top, len(ranked))} by samples")
        lines.append(f"{'sg':>5}  {'symbol':<12}{'system':<14}{'samples':>9}{'materials':>11}")
        for sg, c in ranked[:top]:
            info = space_group_info(sg)
            lines.append(
                f"{sg:>5}  {info.symbol:<12}{info.crystal_system:<14}"
                f"{c['samples']:>9}{c['materials']:>11}"
            )
        lines.append("")
        lines.append(f"{'crystal system':<16}{'samples':>9}{'materials':>11}")
        for system, c in self.crystal_systems.items():
            lines.append(f"{system:<16}{c['samples']:>9}{c['materials']:>11}")
        lines.append("")
        lines.append("ranges:")
        for name, (lo, hi) in self.ranges.items():
            lines.append(f"  {name:<18}{lo:.6g} .. {hi:.6g}")
        shapes = ", ".join(f"{k} x{v}" for k, v in self.stack_shapes.items())
        lines.append(f"  {'stack shapes':<18}{shapes or '-'}")
        lines.append("")
        if self.problems:
            lines.append(
                f"pattern problems ({len(self.problems)}): samples or files unusable everywhere"
            )
            lines.extend(f"  {p}" for p in self.problems)
        if self.metadata_problems:
            lines.append(
                f"metadata problems ({len(self.metadata_problems)}): "
                f"{self.n_unlabelled} samples usable for prediction only"
            )
            lines.extend(f"  {p}" for p in self.metadata_problems)
        if self.ok:
            lines.append("problems: none")
        return "\n".join(lines)


def summarize(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    strict: bool = False,
    load_stack: bool = True,
    progress: bool | None = False,
) -> DataSummary:
    """One validating pass over files and directories.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and directories (see :func:`cbedfeat.data.find_h5_files`).
    strict : bool
        Raise the first :class:`~cbedfeat.data.CBEDDataError`, of a pattern or of an
        attribute, instead of recording it.
    load_stack : bool
        Read every stack to check its intensities (True) or check metadata and stack
        shape/dtype only (False, much faster on the real 512 x 512 data).
    progress : bool or None
        Show a tqdm bar over files: True always, False never, None when stderr is a
        terminal.

    Returns
    -------
    DataSummary
    """
    files = find_h5_files(paths)
    summary = DataSummary(stacks_checked=load_stack)
    split_counts: Counter[str] = Counter()
    unlabelled: Counter[str] = Counter()
    split_materials: dict[str, set[str]] = defaultdict(set)
    sg_counts: Counter[int] = Counter()
    sg_materials: dict[int, set[str]] = defaultdict(set)
    ranges: dict[str, _Range] = {}
    shapes: Counter[str] = Counter()

    bar = progress_bar(files, unit="file", enabled=progress, leave=False, desc="inspect")
    for path in bar:
        n_before, n_meta_before = len(summary.problems), len(summary.metadata_problems)
        n_valid = n_unlabelled = 0
        for stack, meta in iter_file(
            path,
            strict=strict,
            problems=summary.problems,
            load_stack=load_stack,
            require_metadata=strict,
        ):
            if stack is not None:
                ranges.setdefault("intensity", _Range()).add([stack.min(), stack.max()])
                shapes["x".join(map(str, stack.shape))] += 1
            if meta.problems:
                n_unlabelled += 1
                unlabelled[meta.split] += 1
                summary.metadata_problems.extend(meta.problems)
                continue
            n_valid += 1
            split_counts[meta.split] += 1
            split_materials[meta.split].add(meta.material)
            sg_counts[meta.space_group] += 1
            sg_materials[meta.space_group].add(meta.material)
            for name in _RANGE_ATTRS:
                ranges.setdefault(name, _Range()).add(getattr(meta, name))
        new = summary.problems[n_before:]
        summary.files.append(
            {
                "file": str(path),
                "split": split_of(path),
                "samples": n_valid,
                "unlabelled": n_unlabelled,
                "problems": len(new),
                "metadata_problems": len(summary.metadata_problems) - n_meta_before,
                "opened": not any(p.group is None and p.kind == "file_open" for p in new),
            }
        )
        bar.set_postfix(samples=sum(split_counts.values()), problems=len(summary.problems))

    splits = [*SPLITS, *(s for s in sorted(set(split_counts) | set(unlabelled)) if s not in SPLITS)]
    present = {f["split"] for f in summary.files} | set(split_counts)
    summary.samples_per_split = {s: split_counts[s] for s in splits if s in present}
    summary.unlabelled_per_split = {s: unlabelled[s] for s in splits if unlabelled[s]}
    summary.materials_per_split = {s: len(split_materials[s]) for s in summary.samples_per_split}
    summary.n_materials = len(set().union(*split_materials.values()))
    summary.space_groups = {
        sg: {"samples": sg_counts[sg], "materials": len(sg_materials[sg])}
        for sg in sorted(sg_counts)
    }
    sys_counts: Counter[str] = Counter()
    sys_materials: dict[str, set[str]] = defaultdict(set)
    for sg, n in sg_counts.items():
        system = crystal_system_of(sg)
        sys_counts[system] += n
        sys_materials[system] |= sg_materials[sg]
    summary.crystal_systems = {
        s: {"samples": sys_counts[s], "materials": len(sys_materials[s])}
        for s in CRYSTAL_SYSTEMS
        if sys_counts[s]
    }
    summary.ranges = {k: [r.lo, r.hi] for k, r in ranges.items()}
    summary.stack_shapes = dict(shapes)
    return summary
