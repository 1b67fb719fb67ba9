"""Age prototypes: the mean aligned face of each (group, gender, age), as in Burt & Perrett's
age transforms (1995). The difference between the prototypes of two ages is the data's own
low-frequency picture of ageing (skin, folds, eye bags, lips) for that kind of face; the age
generator is held to it at low resolution (a discriminator, when on, judges the fine texture).
A classifier alone let a small generator age faces by adversarial stripes instead.

Groups are UTKFace's ethnicity labels where the file names carry them: without them the old
prototype would drift toward the ethnic mix of the dataset's old faces, an ethnic change that is
not ageing."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import FaceSet, to_unit

SIZE = 32  # prototypes live at this resolution: the broad shapes of ageing, not its texture
MAX_AGE = 100


def groups(files: list[str]) -> np.ndarray:
    """UTKFace's ethnicity per file name (`{age}_{gender}_{race}_...`), 0 for other names."""
    def one(name: str) -> int:
        parts = name.split("_")
        return int(parts[2]) if len(parts) >= 4 and parts[2].isdigit() else 0
    return np.array([one(f) for f in files], np.int64)


class AgePrototypes:
    """table[group, gender, age] is a kernel-weighted mean of the training faces around that age
    (NCHW [-1, 1], SIZE px). A (group, gender) with too few faces near an age widens its kernel
    (the next of `sigmas`, in years) before it borrows the mean of that gender over all groups."""

    def __init__(self, data: FaceSet, sigmas: tuple[float, ...] = (4.0, 8.0, 16.0), min_weight: float = 20.0,
                 chunk: int = 2048):
        group = groups(data.files)
        known = ~np.isnan(data.age) & ~np.isnan(data.female)
        small = torch.cat([F.adaptive_avg_pool2d(to_unit(data.crops[i:i + chunk]), SIZE)
                           for i in range(0, len(data), chunk)]).reshape(len(data), -1)
        ages = np.arange(MAX_AGE + 1, dtype=np.float32)
        self.groups = int(group.max()) + 1
        table = torch.zeros(self.groups, 2, len(ages), small.shape[1])

        def mean(weights: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            w = torch.from_numpy(weights.astype(np.float32))
            mass = w.sum(1, keepdim=True)
            return (w @ small) / mass.clamp_min(1e-6), mass

        for g in (0, 1):
            kernels = [np.exp(-0.5 * ((ages[:, None] - data.age[None, :]) / s) ** 2) * (known & (data.female == g))
                       for s in sigmas]  # ages x faces
            pooled, _ = mean(kernels[-1])  # the last resort: all groups, widest kernel
            for k in range(self.groups):
                table[k, g] = pooled
                for kernel in reversed(kernels):  # narrower kernels win where they hold enough faces
                    own, mass = mean(kernel * (group == k))
                    table[k, g] = torch.where(mass >= min_weight, own, table[k, g])
        self.table = table.reshape(self.groups, 2, len(ages), 3, SIZE, SIZE)

    def shift(self, group: torch.Tensor, female: torch.Tensor, age: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The prototype change from `age` to `target` years for each face (N x 3 x SIZE x SIZE)."""
        def at(years):
            return self.table[group, female.long(), years.round().clamp(0, MAX_AGE).long()]
        return at(target) - at(age)
