"""Step 1 of the method: SER-FIQ, the model-specific quality of a face image.

The body of the network runs once per image; its pre-dropout features are then sent
T times through the head, each time with a different dropout mask ("random
subnetworks"). The more the T unit-norm embeddings agree, the higher the quality:

    D̄ = mean_{i<j} ||x̃_i - x̃_j||,   Q = 2 / (1 + exp(D̄)),   Q̂ = sigmoid(alpha (Q - r))

(the official code's normalisation of the sum, 2/(m(m-1)) pairs).

Design choices (documented where the paper is silent):

* **Shared masks.** The T dropout masks are drawn once per call from ``seed`` and used
  for every image of the batch (common random numbers). A face therefore gets the same
  Q̂ alone or inside any batch, and the Monte-Carlo noise is correlated across faces,
  which makes rankings within one call steadier.
* **Inverted dropout** (kept units scaled by 1/(1-p)), as in torch and Keras.
* The network stays in eval mode: BatchNorm uses its trained statistics while the
  dropout is active (the official code's silent-dropout bug cannot happen: the masks are
  applied explicitly, and a test checks that the T embeddings differ).
* **Monte-Carlo standard error** of Q̂: D̄ is a U-statistic; its variance is estimated
  with Hoeffding's first-order term, Var(D̄) ≈ 4/T · Var_i(mean_j d_ij), and carried to
  Q̂ with the delta method.

Taught in: 01_quality_model.ipynb
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.checks import check_images
from ..errors import InvalidArgumentError
from .batching import chunk_size as chunk_size_for
from .constants import PAPER_PASSES
from .validation import check_passes, check_seed, finite

if TYPE_CHECKING:
    from ..models.base import FRModel

#: Most float32 elements held at once by the stochastic head (64 MiB).
MAX_CHUNK_ELEMENTS = 2**24


@dataclass(frozen=True)
class SerfiqSettings:
    """The settings of one SER-FIQ computation, in one place.

    Attributes:
        n_passes: T, the number of stochastic passes (paper: 100).
        dropout_p: dropout rate; ``None`` = the network's (``model.dropout_p``).
        alpha, r: scaling constants of Q̂; ``None`` = the network's fitted ones.
        seed: seed of the shared dropout masks; ``None`` draws a fresh one.
    Use :meth:`resolved` to fill the ``None`` fields for a network.
    """

    n_passes: int = PAPER_PASSES
    dropout_p: float | None = None
    alpha: float | None = None
    r: float | None = None
    seed: int | None = 0

    def resolved(self, model: FRModel) -> SerfiqSettings:
        """A checked copy with every ``None`` filled from ``model`` (and a drawn seed).

        The one place where SER-FIQ settings are validated: every public function that
        takes them (``serfiq_quality``, ``pixel_quality_map``, the baselines, the CLI)
        resolves them here before any work.

        Raises:
            InvalidArgumentError: ``n_passes`` not a whole number in [2, ``MAX_PASSES``];
                ``seed`` not a whole number in [0, 2^63); ``dropout_p`` not in (0, 1);
                ``alpha`` or ``r`` not finite (or ``alpha`` not positive).
        """
        dropout_p = model.dropout_p if self.dropout_p is None else self.dropout_p
        alpha = model.alpha if self.alpha is None else self.alpha
        r = model.r if self.r is None else self.r
        return SerfiqSettings(
            n_passes=check_passes(self.n_passes),
            dropout_p=finite("dropout_p", dropout_p, low=0.0, high=1.0),
            alpha=finite("alpha", alpha, low=0.0),
            r=finite("r", r),
            seed=draw_seed() if self.seed is None else check_seed(self.seed),
        )


@dataclass
class QualityResult:
    """SER-FIQ qualities of a batch of faces.

    Attributes:
        q: (B,) scaled quality Q̂ in (0, 1).
        q_raw: (B,) raw SER-FIQ quality Q in (0, 1].
        q_se: (B,) Monte-Carlo standard error of Q̂ (run-to-run spread over seeds).
        mean_distance: (B,) mean pairwise distance D̄ of the T unit-norm embeddings.
        n_passes, dropout_p, alpha, r, seed: the settings that produced it.
    """

    q: torch.Tensor
    q_raw: torch.Tensor
    q_se: torch.Tensor
    mean_distance: torch.Tensor
    n_passes: int
    dropout_p: float
    alpha: float
    r: float
    seed: int


def scale_quality(q_raw: torch.Tensor | float, alpha: float, r: float) -> torch.Tensor:
    """Q̂ = f(Q) = 1 / (1 + exp(-alpha (Q - r)))  (the official code's scaling).

    Raises:
        InvalidArgumentError: ``alpha`` or ``r`` is not a finite number.
    """
    alpha, r = finite("alpha", alpha), finite("r", r)
    return torch.sigmoid(alpha * (torch.as_tensor(q_raw) - r))


def draw_seed() -> int:
    """A fresh random seed (from the OS), for runs that were given none."""
    return int(np.random.SeedSequence().generate_state(1)[0])


def dropout_masks(
    n_passes: int, dim: int, p: float, *, seed: int, device: torch.device
) -> torch.Tensor:
    """T inverted-dropout masks, shared by every image of a call.

    Returns:
        (T, D) float32 tensor of 0 and 1/(1-p) on ``device``, drawn on the CPU from
        ``seed``: the same seed gives the same masks on every device.
    Raises:
        InvalidArgumentError: ``n_passes``, ``p`` or ``seed`` out of range (see
            :meth:`SerfiqSettings.resolved`).
    """
    p = finite("dropout_p", p, low=0.0, high=1.0)
    n_passes, seed = check_passes(n_passes), check_seed(seed)
    return _device_masks(n_passes, int(dim), p, seed, str(torch.device(device)))


@functools.lru_cache(maxsize=4)
def _device_masks(n_passes: int, dim: int, p: float, seed: int, device: str) -> torch.Tensor:
    # Cached per device: no host-to-GPU copy of the (T, D) masks on repeated calls.
    with torch.inference_mode(False), torch.no_grad():
        return _cpu_masks(n_passes, dim, p, seed).to(device)


@functools.lru_cache(maxsize=4)
def _cpu_masks(n_passes: int, dim: int, p: float, seed: int) -> torch.Tensor:
    # Built outside inference mode: a cached inference tensor could not be saved for
    # backward by a later differentiable call (``quality_gradient_map``).
    with torch.inference_mode(False), torch.no_grad():
        gen = torch.Generator(device="cpu")
        gen.manual_seed(seed)
        keep = torch.rand(n_passes, dim, generator=gen) >= p
        return keep.to(torch.float32) / (1.0 - p)


def stochastic_embeddings(model: FRModel, feat: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Run the head once per mask on every feature vector.

    Args:
        model: the network (its head is used).
        feat: (B, D) pre-dropout features from ``model.features``.
        masks: (T, D) dropout masks from :func:`dropout_masks`.
    Returns:
        (B, T, E) unit-norm stochastic embeddings.

    Each head call holds one image's passes (at most ``MAX_CHUNK_ELEMENTS`` masked
    features), always with the same shapes: a face's quality is then bit-identical
    whichever faces share its batch (a matrix product's rounding depends on its row
    count), which makes interrupted, resumed and sharded runs reproduce exactly.
    """
    n_pass, dim = masks.shape
    step = max(1, min(n_pass, MAX_CHUNK_ELEMENTS // dim))
    out = [
        model.embed_features(f * masks[s : s + step]) for f in feat for s in range(0, n_pass, step)
    ]
    return torch.cat(out).view(len(feat), n_pass, -1)


def mean_pairwise_distance(emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean Euclidean distance over the T(T-1)/2 pairs of unit-norm embeddings.

    Args:
        emb: (B, T, E) unit-norm embeddings.
    Returns:
        (B,) mean distance D̄ and (B,) its Monte-Carlo standard error (Hoeffding).
        Computed image by image (T x T each, cheap) so that reductions never depend
        on the batch size.
    """
    n_pass = emb.shape[1]
    off_diag = 1 - torch.eye(n_pass, device=emb.device, dtype=emb.dtype)
    means, ses = [], []
    for e in emb:
        dist = (2.0 - 2.0 * (e @ e.T)).clamp_min(1e-12).sqrt() * off_diag
        row_means = dist.sum(1) / (n_pass - 1)
        means.append(row_means.mean())
        ses.append((4.0 / n_pass * row_means.var()).sqrt())
    return torch.stack(means), torch.stack(ses)


def quality_from_distance(
    mean_distance: torch.Tensor, se: torch.Tensor, alpha: float, r: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q, Q̂ and the standard error of Q̂ from D̄ and its standard error.

    Evaluated in float64 and returned in the input's dtype: vectorised and scalar
    ``exp`` differ in the last float32 bit, which would otherwise let a printed value
    depend on how many faces share the batch.
    """
    d, se64 = mean_distance.double(), se.double()
    q_raw = 2.0 / (1.0 + torch.exp(d))
    q = scale_quality(q_raw, alpha, r)
    dq_dd = 2.0 * torch.exp(d) / (1.0 + torch.exp(d)) ** 2
    q_se = alpha * q * (1.0 - q) * dq_dd * se64
    return tuple(t.to(mean_distance.dtype) for t in (q_raw, q, q_se))


def serfiq_from_features(
    model: FRModel,
    feat: torch.Tensor,
    *,
    n_passes: int = 100,
    dropout_p: float | None = None,
    alpha: float | None = None,
    r: float | None = None,
    seed: int | None = 0,
) -> QualityResult:
    """SER-FIQ from features the body has already computed (no second forward pass).

    Args:
        model: the network; its ``dropout_p``, ``alpha`` and ``r`` fill ``None`` arguments.
        feat: (B, D) features from ``model.features``; gradients flow if it requires them.
        n_passes: T, the number of stochastic passes (paper: 100).
        dropout_p: dropout rate (paper: 0.5).
        alpha, r: scaling constants (paper: 130, 0.88, fitted to ArcFace-R100).
        seed: seed of the shared dropout masks; ``None`` draws a fresh seed, which is
            recorded in the result so the run can be repeated.
    Returns:
        A :class:`QualityResult`.
    Raises:
        InvalidArgumentError: a setting out of range (:meth:`SerfiqSettings.resolved`)
            or ``feat`` not a (B, D) tensor with B >= 1.
    """
    if not isinstance(feat, torch.Tensor) or feat.ndim != 2 or len(feat) == 0:
        raise InvalidArgumentError(
            f"feat must be a (B, D) feature tensor with B >= 1, got {getattr(feat, 'shape', feat)}"
        )
    s = SerfiqSettings(n_passes, dropout_p, alpha, r, seed).resolved(model)
    masks = dropout_masks(s.n_passes, feat.shape[1], s.dropout_p, seed=s.seed, device=feat.device)
    mean, se = mean_pairwise_distance(stochastic_embeddings(model, feat, masks.to(feat.dtype)))
    q_raw, q, q_se = quality_from_distance(mean, se, s.alpha, s.r)
    return QualityResult(q, q_raw, q_se, mean, s.n_passes, s.dropout_p, s.alpha, s.r, s.seed)


def serfiq_quality(model: FRModel, images: torch.Tensor, **kwargs) -> QualityResult:
    """SER-FIQ quality of a batch of aligned faces.

    Args:
        model: an :class:`FRModel` in eval mode; its device is used.
        images: (B, 3, 112, 112) float32 RGB in 0..255 (see ``data.to_tensor``).
        **kwargs: ``n_passes``, ``dropout_p``, ``alpha``, ``r``, ``seed`` as in
            :func:`serfiq_from_features`.
    Returns:
        A :class:`QualityResult` with tensors on the model's device.
    Raises:
        InvalidImageError: images of the wrong type, shape or range, or an empty batch.
        InvalidArgumentError: a SER-FIQ setting out of range (see
            :meth:`SerfiqSettings.resolved`: T in [2, 1000], seed in [0, 2^63), finite
            alpha and r, dropout_p in (0, 1)).
    Example:
        >>> res = serfiq_quality(load_model("sface"), to_tensor(faces), seed=0)
        >>> res.q  # scaled qualities, higher = more useful for recognition

    Taught in: 01_quality_model.ipynb
    """
    SerfiqSettings(**kwargs).resolved(model)  # bad settings fail before the body runs
    with torch.inference_mode():
        return serfiq_from_features(model, body_features(model, images), **kwargs)


def body_features(
    model: FRModel, images: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """The body's pre-dropout features of a batch, one pass per chunk of faces.

    The one "run the body once" loop of the library: SER-FIQ, the evaluation's
    embeddings and the deletion curves all score what it returns.

    Args:
        model: the network. images: (B, 3, H, W) RGB 0..255 (checked here).
        chunk_size: faces per pass (default: :func:`batching.chunk_size` of the device).
    Returns:
        (B, D) features on the model's device, without gradients.
    Raises:
        InvalidImageError: images of the wrong shape, type or range, or an empty batch.
        InvalidArgumentError: ``chunk_size`` not a whole number >= 1.
    """
    images = check_images(images, model)
    size = chunk_size_for(images.device, chunk_size)
    # no_grad, not inference_mode: the features may be used later beside autograd
    # (reference embeddings of the Captum baselines).
    with torch.no_grad():
        return torch.cat([model.features(chunk) for chunk in images.split(size)])
