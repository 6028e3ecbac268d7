"""ResNet baseline on CBED stacks: one single-channel ResNet trunk shared by the three patterns.

The trunk is torchvision's ResNet (He et al., CVPR 2016) with basic blocks, layer for
layer: ``conv1`` 7x7 stride 2, ``bn1``, ReLU, 3x3 max pool stride 2, four stages of
:class:`BasicBlock` (the first block of stages 2-4 strides by 2 and has a 1x1
convolution + batch norm ``downsample`` branch), global average pooling; the same
module names (so the state dicts are interchangeable with
``torchvision.models.resnet18`` apart from ``conv1``'s single input channel and the
missing ``fc``) and the same initialisation (Kaiming normal, fan-out, for the
convolutions; batch-norm weights 1 and biases 0; optionally the last batch norm of
each residual branch zeroed). ``blocks=(2, 2, 2, 2)`` and ``widths=(64, 128, 256,
512)`` are ResNet-18; smaller widths give the narrower ResNets a CPU can train.

The one deviation from using torchvision itself: the blocks are written here from
``torch.nn`` building blocks, because torchvision is not part of the ``cnn`` extra (a
torchvision wheel must match the exact torch build, which the pinned CPU torch does not
have).

:class:`CBEDResNet` runs that trunk on each of the three patterns of a stack (the
three zone axes are three one-channel images, not three colour channels of one
image), then concatenates (``pool="concat"``) or averages (``pool="mean"``) the three
feature vectors before the classification head and the optional lattice head.
"""

from __future__ import annotations

import torch
from torch import nn

RESNET18_BLOCKS = (2, 2, 2, 2)
RESNET18_WIDTHS = (64, 128, 256, 512)
POOLS = ("concat", "mean")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (torchvision's ``conv3x3``)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution with no bias (torchvision's ``conv1x1``)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3x3 conv + batch norm, identity or 1x1 shortcut.

    Parameters
    ----------
    inplanes, planes : int
        Input and output channels.
    stride : int
        Stride of the first convolution (and of the shortcut).
    downsample : nn.Module or None
        Shortcut branch; needed when ``stride != 1`` or ``inplanes != planes``.

    Notes
    -----
    ``forward(x)``: (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNetTrunk(nn.Module):
    """torchvision's ``ResNet`` with basic blocks, without its final ``fc``.

    Parameters
    ----------
    blocks : tuple of 4 int
        Basic blocks per stage (ResNet-18: 2, 2, 2, 2).
    widths : tuple of 4 int
        Channels per stage (ResNet-18: 64, 128, 256, 512).
    in_channels : int
        Channels of the input image.
    zero_init_residual : bool
        Zero the last batch-norm weight of every residual branch, so each block starts
        as the identity (torchvision's option of the same name).

    Notes
    -----
    ``forward(x)``: (N, in_channels, H, W) -> (N, widths[-1]) features after global
    average pooling. ``out_features`` is ``widths[-1]``.
    """

    def __init__(
        self,
        blocks=RESNET18_BLOCKS,
        widths=RESNET18_WIDTHS,
        in_channels: int = 1,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if len(blocks) != 4 or len(widths) != 4:
            raise ValueError(f"a ResNet has four stages: got blocks {blocks}, widths {widths}")
        self.inplanes = int(widths[0])
        self.conv1 = nn.Conv2d(
            in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(int(widths[0]), int(blocks[0]))
        self.layer2 = self._make_layer(int(widths[1]), int(blocks[1]), stride=2)
        self.layer3 = self._make_layer(int(widths[2]), int(blocks[2]), stride=2)
        self.layer4 = self._make_layer(int(widths[3]), int(blocks[3]), stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.out_features = int(widths[3]) * BasicBlock.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, planes: int, n_blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * BasicBlock.expansion, stride),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def resnet_widths(width: int) -> tuple[int, int, int, int]:
    """Stage widths of a ResNet whose first stage has ``width`` channels (doubling per stage).

    ``resnet_widths(64)`` is ResNet-18's (64, 128, 256, 512).
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    return (width, 2 * width, 4 * width, 8 * width)


class CBEDResNet(nn.Module):
    """One single-channel :class:`ResNetTrunk` shared by the patterns of a stack, two heads.

    Parameters
    ----------
    n_classes : int
        Outputs of the classification head.
    n_targets : int
        Outputs of the regression head (0: no head).
    n_patterns : int
        Patterns (zone axes) per stack.
    width : int
        Channels of the first stage (64: ResNet-18; the stages double it).
    blocks : tuple of 4 int
        Basic blocks per stage.
    pool : {"concat", "mean"}
        How the patterns' feature vectors are combined before the heads: concatenated
        (the head knows which zone axis a feature came from) or averaged.
    dropout : float
        Dropout before the heads.
    zero_init_residual : bool
        See :class:`ResNetTrunk`.

    Notes
    -----
    ``forward(x)`` with x (B, n_patterns, H, W), H and W >= 1, returns
    ``(logits (B, n_classes), targets (B, n_targets))``. Every pattern goes through the
    same trunk as a (1, H, W) image: the trunk sees ``B * n_patterns`` images per batch.
    """

    def __init__(
        self,
        n_classes: int,
        n_targets: int = 0,
        n_patterns: int = 3,
        width: int = 64,
        blocks=RESNET18_BLOCKS,
        pool: str = "concat",
        dropout: float = 0.2,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        self.n_patterns, self.pool = int(n_patterns), pool
        self.trunk = ResNetTrunk(
            blocks, resnet_widths(width), in_channels=1, zero_init_residual=zero_init_residual
        )
        k = self.trunk.out_features * (self.n_patterns if pool == "concat" else 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(k, n_classes)
        self.regressor = nn.Linear(k, n_targets) if n_targets > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, p, h, w = x.shape
        if p != self.n_patterns:
            raise ValueError(f"expected {self.n_patterns} patterns per stack, got {p}")
        feats = self.trunk(x.reshape(b * p, 1, h, w)).reshape(b, p, -1)
        feats = feats.flatten(1) if self.pool == "concat" else feats.mean(dim=1)
        feats = self.dropout(feats)
        reg = self.regressor(feats) if self.regressor is not None else feats.new_zeros((b, 0))
        return self.classifier(feats), reg
