"""The training losses the kinds share, as plain functions of tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017): the scores' squared distance to 1 (real) or 0 (fake)."""
    return F.mse_loss(scores, torch.full_like(scores, float(real)))


def pair_l1(fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 at full, half and quarter size: the coarse terms weigh the shape of hair and jaw as much
    as the fine ones weigh texture."""
    loss = F.l1_loss(fake, target)
    for k in (2, 4):
        loss = loss + F.l1_loss(F.avg_pool2d(fake, k), F.avg_pool2d(target, k))
    return loss / 3


def centred(change: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`change` (seen through `mask`) less the uniform colour change that best explains it, per
    channel: its least-squares projection on the mask, as the app matches the face's mean colour
    and then pastes through the mask."""
    w = mask.expand(len(change), 1, *change.shape[2:])
    mean = (change * w).sum((2, 3), keepdim=True) / (w * w).sum((2, 3), keepdim=True).clamp_min(1e-6)
    return change - mean * w
