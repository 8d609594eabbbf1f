"""The demo's models: a small 1-D CNN (5 conv layers + fc + head) and an MLP, for length-40 MNIST-1D signals.

Every layer the demo compares is a named module whose output is the post-ReLU activation (seed 003 collects
"output after activation ReLU"): ``conv1`` … ``conv5`` and ``fc`` are ``Sequential(layer, ReLU)`` blocks, ``head`` is
the final ``Linear`` (logits). ``fc`` is the feature vector of seed 001 (the input of the classifier ``head``); a
``Dropout`` module (``drop``, active only in training) sits between ``fc`` and ``head``, as in seed 000's networks.
"""
from __future__ import annotations

import torch
from torch import nn

CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


class CNN1d(nn.Module):
    """conv1 → conv2 (stride 2) → conv3 → conv4 (stride 2) → conv5 → fc → head; every kernel has width 3.

    Input (B, length) or (B, 1, length). With length 40 the conv outputs are (B, C, 40), (B, C, 20), (B, C, 20),
    (B, C, 10), (B, C, 10).
    """

    def __init__(self, length: int = 40, channels: int = 32, fc: int = 64, n_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        c = channels

        def block(cin, cout, k, stride):
            return nn.Sequential(nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2), nn.ReLU())

        self.conv1 = block(1, c, 3, 1)
        self.conv2 = block(c, c, 3, 2)
        self.conv3 = block(c, c, 3, 1)
        self.conv4 = block(c, c, 3, 2)
        self.conv5 = block(c, c, 3, 1)
        out_len = (((length - 1) // 2 + 1) - 1) // 2 + 1
        self.fc = nn.Sequential(nn.Linear(c * out_len, fc), nn.ReLU())
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(fc, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            x = conv(x)
        return self.head(self.drop(self.fc(x.flatten(1))))


class MLP(nn.Module):
    """hidden1 → hidden2 → fc → head, ReLU after every hidden layer."""

    def __init__(self, length: int = 40, hidden: int = 256, fc: int = 64, n_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        self.hidden1 = nn.Sequential(nn.Linear(length, hidden), nn.ReLU())
        self.hidden2 = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.fc = nn.Sequential(nn.Linear(hidden, fc), nn.ReLU())
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(fc, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.flatten(1)
        return self.head(self.drop(self.fc(self.hidden2(self.hidden1(x)))))


ARCHITECTURES = {"cnn": CNN1d, "mlp": MLP}


def build(arch: str, seed: int, **config) -> nn.Module:
    """A freshly initialised model; its initial weights depend only on (arch, config, seed)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {list(ARCHITECTURES)}, got {arch!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return ARCHITECTURES[arch](**config)
