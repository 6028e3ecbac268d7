"""In-plane rotations and flips of CBED patterns: training augmentation and test-time views.

Which in-plane transformations give an equally likely pattern depends on how patterns
are framed. In the ORNL layout (and in cbedfeat's simulator) each pattern has a
reference direction (``y_dirs``): a reciprocal-lattice vector of the zone, drawn along
the detector's +y axis. Two groups of views follow:

``"frame"`` (:data:`FRAME_VIEWS`): the identity, the half turn and the two mirrors about
    the detector axes. They keep the reference direction on the y axis (a half turn or
    a mirror across the x axis sends g to -g, the Friedel mate, which could equally
    have been the reference), so a transformed pattern is one the same framing could
    have produced, and the orientation of the disk lattice relative to the frame keeps
    its meaning. The half turn is a rotation of the crystal about the beam, valid for
    dynamical patterns too; a mirror gives the pattern of the mirror-image crystal,
    of the same space group except in the 11 enantiomorphic pairs (P4_1 / P4_3, ...),
    which kinematic patterns cannot tell apart anyway.
``"square"`` (:data:`VIEW_ORDER`): all eight right-angle rotations and mirrors, and
    ``"continuous"`` rotations by any angle: the recipe of the published CNNs, which
    treat the in-plane orientation as arbitrary. On framed patterns they throw away
    the alignment of the lattice with the frame, which the network must then learn to
    do without.

Training draws a random view per pattern (each of the three patterns of a stack
independently, since their frames are unrelated); prediction averages the class
probabilities over views of the stack.

All functions act on batches of preprocessed stacks, (B, P, H, W) tensors, on any
device; the random draws come from a CPU ``torch.Generator`` so a seed gives the same
augmentations on every device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ROTATIONS = ("continuous", "dihedral", "frame")
#: Views of test-time averaging, in the order ``tta=n`` takes the first ``n``: view
#: ``v`` is a rotation by ``(v % 4) * 90`` degrees, mirrored first when ``v >= 4``.
#: ``tta=2``: 0 and 180 degrees; ``tta=4``: the four right-angle rotations; ``tta=8``:
#: those and their mirror images (the dihedral group of the square).
VIEW_ORDER = (0, 2, 1, 3, 4, 6, 5, 7)
TTA_CHOICES = (1, 2, 4, 8)
#: Views that keep a framed pattern's reference direction on the y axis (see
#: :func:`dihedral_view`): identity, half turn, mirror of x (x reversed), mirror of y
#: (x reversed, then a half turn). ``tta=2``: identity and half turn.
FRAME_VIEWS = (0, 2, 4, 6)
GROUPS = ("square", "frame")


def dihedral_view(x: torch.Tensor, view: int) -> torch.Tensor:
    """One of the eight right-angle rotations / mirror images of every pattern.

    Parameters
    ----------
    x : (..., H, W) tensor
    view : int in 0..7
        Rotation by ``(view % 4) * 90`` degrees (``torch.rot90`` over the last two
        axes), after a mirror about the vertical axis (last axis reversed) when
        ``view >= 4``.

    Returns
    -------
    (..., W, H) tensor
        Exact (no interpolation).
    """
    if not 0 <= view < 8:
        raise ValueError(f"view must be in 0..7, got {view}")
    if view >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, view % 4, dims=(-2, -1))


def tta_views(tta: int, group: str = "square") -> tuple[int, ...]:
    """The views (see :func:`dihedral_view`) averaged at prediction.

    Parameters
    ----------
    tta : {1, 2, 4, 8}
        Number of views; at most 4 in the ``"frame"`` group.
    group : {"square", "frame"}
        The first ``tta`` of :data:`VIEW_ORDER` or of :data:`FRAME_VIEWS`.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    views = FRAME_VIEWS if group == "frame" else VIEW_ORDER
    if tta not in TTA_CHOICES or tta > len(views):
        allowed = tuple(t for t in TTA_CHOICES if t <= len(views))
        raise ValueError(f"tta must be one of {allowed} for the {group!r} views, got {tta!r}")
    return views[:tta]


def view_group(augment: str) -> str:
    """The group of test-time views that matches a training augmentation.

    ``"frame"`` and ``"none"`` (a model that only ever saw framed patterns) average over
    :data:`FRAME_VIEWS`; ``"dihedral"`` and ``"continuous"`` over :data:`VIEW_ORDER`.
    """
    return "frame" if augment in ("frame", "none") else "square"


def rotate(
    x: torch.Tensor, angle: torch.Tensor, mirror: torch.Tensor | None = None
) -> torch.Tensor:
    """Rotate each image about its centre by its own angle (bilinear), mirrored first if asked.

    Parameters
    ----------
    x : (N, C, H, W) float tensor
    angle : (N,) float tensor
        Radians, counter-clockwise as ``torch.rot90`` with ``k=1`` turns an image: an
        angle of pi/2 gives ``torch.rot90(x, 1, dims=(-2, -1))`` up to interpolation
        round-off on square images.
    mirror : (N,) bool tensor, optional
        Reverse the last axis before rotating.

    Returns
    -------
    (N, C, H, W) tensor
        Pixels that come from outside the image take the value of the nearest border
        pixel (the background of a CBED pattern, which lies inside the inscribed circle).
    """
    n = x.shape[0]
    angle = angle.to(device=x.device, dtype=x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    sign = torch.ones(n, dtype=x.dtype, device=x.device)
    if mirror is not None:
        sign = torch.where(mirror.to(x.device), -sign, sign)
    # affine_grid maps output coordinates (x right, y down, in [-1, 1]) to input ones:
    # out(p) = x(M R^-1 p), R the rotation, M = diag(sign, 1) the mirror of x.
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = cos * sign
    theta[:, 0, 1] = -sin * sign
    theta[:, 1, 0] = sin
    theta[:, 1, 1] = cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_rotate_flip(
    x: torch.Tensor, generator: torch.Generator, *, rotation: str = "continuous", flip: bool = True
) -> torch.Tensor:
    """Random in-plane rotation and mirror of every pattern of a batch, each its own.

    Parameters
    ----------
    x : (B, P, H, W) float tensor
        Preprocessed stacks; H == W.
    generator : torch.Generator
        CPU generator all draws come from (the same seed gives the same batch).
    rotation : {"continuous", "dihedral", "frame"}
        ``"continuous"``: an angle uniform in [0, 2 pi), bilinear interpolation;
        ``"dihedral"``: a multiple of 90 degrees, exact; ``"frame"``: one of
        :data:`FRAME_VIEWS` (half turns and mirrors about the axes), exact.
    flip : bool
        Mirror each pattern with probability 1/2 (``"frame"``: the mirrors are part of
        the group; False keeps the identity and the half turn only).

    Returns
    -------
    (B, P, H, W) tensor
        Same shape, dtype and device; labels and targets of the batch are unchanged by
        construction (an in-plane rotation does not change the crystal).
    """
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, got {rotation!r}")
    b, p, h, w = x.shape
    if h != w:
        raise ValueError(f"rotation needs square patterns, got {h} x {w}")
    n = b * p
    mirror = (
        (torch.rand(n, generator=generator) < 0.5) if flip else torch.zeros(n, dtype=torch.bool)
    )
    flat = x.reshape(n, 1, h, w)
    if rotation == "continuous":
        angle = torch.rand(n, generator=generator, dtype=torch.float64) * (2 * math.pi)
        return rotate(flat, angle, mirror).reshape(b, p, h, w)
    if rotation == "frame":
        half = torch.randint(0, 2, (n,), generator=generator)
        view = (2 * half + 4 * mirror.long()).to(x.device)  # 0, 2, 4 or 6
    else:
        quarter = torch.randint(0, 4, (n,), generator=generator)
        view = (quarter + 4 * mirror.long()).to(x.device)
    out = flat.clone()
    for v in range(8):
        idx = torch.nonzero(view == v).flatten()
        if idx.numel():
            out[idx] = dihedral_view(flat[idx], v)
    return out.reshape(b, p, h, w)
