"""The training losses the kinds share, as plain functions of tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def lsgan(scores: torch.Tensor, real: bool, where: torch.Tensor | None = None) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017): the scores' squared distance to 1 (real) or 0 (fake).
    `where` (N x 1 x H x W, >= 0) weighs each patch's score by its mean over the patch's cell."""
    err = (scores - float(real)) ** 2
    if where is None:
        return err.mean()
    w = F.adaptive_avg_pool2d(where, scores.shape[-2:])
    return (err * w).sum() / w.sum().clamp(min=1e-6)


def feature_match(want: list[torch.Tensor], got: list[torch.Tensor]) -> torch.Tensor:
    """pix2pixHD's feature matching (Wang et al. 2018): L1 between a discriminator's activations on
    the target and on the output, layer by layer. Pixel L1 is content with the mean of what the
    hair could be; a discriminator's features tell strands from a smooth blur."""
    return sum(F.l1_loss(g, w.detach()) for w, g in zip(want, got)) / len(want)


def changed(x: torch.Tensor, target: torch.Tensor, threshold: float = 0.06, dilate: bool = True) -> torch.Tensor:
    """Where the teacher changed the picture (N, 1, S, S), grown a little unless `dilate` is off:
    hair, jaw, skin."""
    moved = ((target - x).abs().amax(1, keepdim=True) > threshold).float()
    return F.max_pool2d(moved, 5, 1, 2) if dilate else moved


def pair_l1(fake: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
            gain: torch.Tensor | None = None) -> torch.Tensor:
    """L1 at full, half and quarter size: the coarse terms weigh the shape of hair and jaw as much
    as the fine ones weigh texture. `weight` (N, 1, S, S) counts some pixels more: most of a pair
    does not change, and an unweighted L1 mostly rewards leaving it so. `gain` (N,) counts some
    examples more (a pixel weight is normalised per example, so it cannot)."""
    loss = 0.0
    for k in (1, 2, 4):
        f, t = (F.avg_pool2d(v, k) if k > 1 else v for v in (fake, target))
        err = (f - t).abs()
        if weight is not None:
            w = F.avg_pool2d(weight, k) if k > 1 else weight
            err = err * w / w.mean((1, 2, 3), keepdim=True)
        if gain is not None:
            err = err * gain[:, None, None, None]
        loss = loss + err.mean()
    return loss / 3


def speckle(fake: torch.Tensor, x: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Fine colour texture the edit adds: the change's chroma (each channel less the pixels' grey),
    less its own k x k local mean, L1. Rainbow specks and iridescent fringes in repainted hair are
    that; new hair's strands are mostly light and dark, and a changed skin tone or hair colour is
    smooth, so neither counts."""
    d = fake - x
    d = d - d.mean(1, keepdim=True)
    return (d - F.avg_pool2d(d, k, 1, k // 2, count_include_pad=False)).abs().mean()


def tone(fake: torch.Tensor, x: torch.Tensor, band: torch.Tensor, colour: bool = False) -> torch.Tensor:
    """The coarse change of brightness inside `band` (N, 1, S, S; the forehead, `pairs.forehead`, or
    the jaw, `pairs.jaw`), L1 over the band: a fringe or a jaw's shadow painted on a real face, which
    a student draws as a smudge. Averaged over a 16th of the side, as `pairs.brightness_change`:
    lines and strands do not count. `colour`: the coarse change of colour instead (what is left of
    the change after its brightness, mean over the channels): a tint painted in patches."""
    k = max(3, x.shape[-1] // 16) | 1
    grey = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    change = fake - x
    brightness = (change * grey).sum(1, keepdim=True)
    part = change - brightness if colour else brightness
    coarse = F.avg_pool2d(part, k, 1, k // 2, count_include_pad=False).abs().mean(1, keepdim=True)
    return (coarse * band).sum() / band.sum().clamp(min=1)


def softened(x: torch.Tensor, shift, blur: int = 1) -> torch.Tensor:
    """What a frozen classifier is shown of a generated face: shifted by `shift` (dy, dx) pixels
    and averaged to half size. A fixed aliased view lets a generator fool it with stripes; this
    leaves it only real, low-frequency cues to answer to. `blur` > 1 averages that view again over
    blur x blur blocks (same size): a finer lattice, which a generator learns to paint as
    "older" when the half-size view still shows it, is gone from what the classifier sees."""
    dy, dx = (int(v) for v in shift)
    view = F.avg_pool2d(torch.roll(x, (dy, dx), (2, 3)), 2)
    if blur > 1:
        view = F.interpolate(F.avg_pool2d(view, blur), size=view.shape[-2:], mode="bilinear", align_corners=False)
    return view


def gender_loss(logit: torch.Tensor, target: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Per face, how far a classifier's logit is from the gender asked (`target` 1: female): binary
    cross-entropy, or with a `margin` a hinge that stops at `margin` logits past the boundary, so
    that a face that already reads as asked is not pushed on (an exaggerated edit loses the person)."""
    if margin:
        return F.relu(margin - (2 * target - 1) * logit)
    return F.binary_cross_entropy_with_logits(logit, target, reduction="none")


def age_goal(age: torch.Tensor, a: torch.Tensor, span: float, floor: float) -> torch.Tensor:
    """The age a face aims at for a slider shift `a` (a * span years): inside the ages the data has
    (up to 90) and for "younger" no lower than `floor` (a child is no younger version of an
    adult), but never against the slider's direction."""
    return torch.minimum(torch.maximum(age + a * span, age.clamp(max=floor)), age.clamp(min=90))


def centred(change: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`change` (seen through `mask`) less the uniform colour change that best explains it, per
    channel: its least-squares projection on the mask, as the app matches the face's mean colour
    and then pastes through the mask."""
    w = mask.expand(len(change), 1, *change.shape[2:])
    mean = (change * w).sum((2, 3), keepdim=True) / (w * w).sum((2, 3), keepdim=True).clamp_min(1e-6)
    return change - mean * w
