"""Which torch device a name means: the one resolver the loader, training runs and DDP ranks share.

Names are those of ``features.config.DEVICES`` (``cpu``, ``cuda``, ``auto``) plus ``cuda:N``; ``auto``
is CUDA when torch sees a device, else the CPU. Asking for CUDA on a machine without one is an error,
never a silent fall-back to the CPU.
"""

from __future__ import annotations

import re

import torch

from features.config import DEVICES
from features.errors import ConfigError, TrainingError

_CUDA_INDEX = re.compile(r"^cuda:\d+$")


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device for ``name`` (a :data:`DEVICES` name, ``cuda:N`` or a ``torch.device``)."""
    text = str(name).strip()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text not in DEVICES and not _CUDA_INDEX.match(text):
        raise ConfigError(f"device {text!r}: choose {', '.join(DEVICES)} or cuda:N")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(
            f"device {text!r} asked for, but this machine has no CUDA device",
            hint='use device "auto" (CUDA when present, else CPU) or "cpu"',
        )
    return torch.device(text)


__all__ = ["resolve_device"]
