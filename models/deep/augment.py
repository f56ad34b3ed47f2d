"""Training-time augmentation of the raw modalities, driven by the training loop's seeded generator.

Every random draw comes from the ``torch.Generator`` the loop passes (``models.torch_mlp.train_network``'s
``augment`` hook) or from MONAI transforms re-seeded from it on every batch, so a CPU fit is repeatable.
Validation and prediction rows are never augmented.

- imaging (MONAI): random flips on each axis, a small random affine (up to 10 degrees, 10% scale, 2
  voxels shift; bilinear, border padding) applied to both channels alike (the mask is binarised again),
  then random intensity scaling (+-10%) and Gaussian noise (sd 0.05) of the intensity channel only;
- text: each report keeps a random subset of ``tokens`` of its tokens (token dropout: the cached states
  carry their position and context, and a top-layer pass costs about linearly in the tokens kept);
- diary: each answered day is hidden with probability ``p`` (never all of a patient's answered days).
"""

from __future__ import annotations

import numpy as np
import torch

MAX_SEED = 2**31 - 1


def _seed(generator: torch.Generator) -> int:
    return int(torch.randint(0, MAX_SEED, (1,), generator=generator))


class ImagingAugment:
    """Augments a batch ``[roi (n, 2, G, G, G), ct (n,)]`` (see the module docstring)."""

    def __init__(self) -> None:
        from monai.transforms import (
            Compose,
            RandAffine,
            RandFlip,
            RandGaussianNoise,
            RandScaleIntensity,
        )

        self.spatial = Compose(
            [
                RandFlip(prob=0.5, spatial_axis=0),
                RandFlip(prob=0.5, spatial_axis=1),
                RandFlip(prob=0.5, spatial_axis=2),
                RandAffine(
                    prob=0.5,
                    rotate_range=(np.pi / 18,) * 3,
                    scale_range=(0.1,) * 3,
                    translate_range=(2.0,) * 3,
                    mode="bilinear",
                    padding_mode="border",
                ),
            ]
        )
        self.intensity = Compose(
            [RandScaleIntensity(factors=0.1, prob=0.5), RandGaussianNoise(prob=0.5, mean=0.0, std=0.05)]
        )

    def __call__(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        from monai.data.meta_obj import get_track_meta, set_track_meta

        roi, *rest = tensors
        self.spatial.set_random_state(seed=_seed(generator))
        self.intensity.set_random_state(seed=_seed(generator))
        out = []
        tracking = get_track_meta()
        set_track_meta(False)  # plain tensors: MONAI's metadata costs more than the transforms here
        try:
            for sample in roi:
                s = torch.as_tensor(self.spatial(sample))
                intensity = torch.as_tensor(self.intensity(s[0:1]))
                mask = (s[1:2] > 0.5).to(s.dtype)
                out.append(torch.cat([intensity.to(s.dtype), mask], dim=0))
        finally:
            set_track_meta(tracking)
        return [torch.stack(out).to(roi.dtype).contiguous(), *rest]


class TokenDropout:
    """Keeps ``tokens`` random tokens of each report of a batch ``[hidden, attention, reports]``."""

    def __init__(self, tokens: int) -> None:
        self.tokens = int(tokens)

    def __call__(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        hidden, attention, *rest = tensors
        n, r, length, h = hidden.shape
        if self.tokens <= 0 or self.tokens >= length:
            return tensors
        scores = torch.rand((n, r, length), generator=generator).to(attention.device)
        scores = torch.where(attention, scores, torch.full_like(scores, 2.0))  # padding sorts last
        keep = torch.sort(torch.topk(scores, self.tokens, dim=-1, largest=False).indices, dim=-1).values
        hidden = torch.gather(hidden, 2, keep.unsqueeze(-1).expand(n, r, self.tokens, h))
        attention = torch.gather(attention, 2, keep)
        return [hidden, attention, *rest]


class DayDropout:
    """Hides answered days of a batch ``[diary (n, 7, 6), static]`` with probability ``p``."""

    def __init__(self, p: float) -> None:
        self.p = float(p)

    def __call__(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        diary, *rest = tensors
        if self.p <= 0:
            return tensors
        answered = diary[..., 3:].amax(dim=-1) > 0  # (n, 7)
        drop = (torch.rand(answered.shape, generator=generator) < self.p).to(diary.device)
        kept = answered & ~drop
        emptied = ~kept.any(dim=1, keepdim=True)
        kept = torch.where(emptied, answered, kept)
        return [diary * kept.unsqueeze(-1).to(diary.dtype), *rest]


def modality_dropout(present: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """``present`` (n, M bool) with each True hidden with probability ``p``, never all of a row's."""
    if p <= 0:
        return present
    drop = (torch.rand(present.shape, generator=generator) < p).to(present.device)
    kept = present & ~drop
    return torch.where(kept.any(dim=1, keepdim=True), kept, present)
