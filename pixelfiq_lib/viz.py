"""Matplotlib helpers: ``ax`` in (optional), ``(fig, ax)`` out, never ``plt.show()``.

Maps use the paper's convention: colour map ``RdYlGn`` with vmin 0 and vmax 1, red =
low pixel quality, green = high (the official code's display).

Taught in: 03_gradient_backprop.ipynb
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import torch
from matplotlib import pyplot as plt

PLQ_CMAP = "RdYlGn"


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _axes(ax: plt.Axes | None, figsize=(3, 3)) -> tuple[plt.Figure, plt.Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def face_image(face) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a (3, H, W) / (H, W, 3) tensor or array in 0..255."""
    arr = _np(face)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected one RGB face (3, H, W) or (H, W, 3), got shape {arr.shape}")
    return np.clip(arr, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def plq_lut() -> np.ndarray:
    """(256, 3) float64 RGB in [0, 1] of the ``RdYlGn`` colour map (matplotlib's table)."""
    return matplotlib.colormaps[PLQ_CMAP](np.arange(256))[:, :3]


def colour_indices(plq: np.ndarray) -> np.ndarray:
    """Lookup-table rows of a map in [0, 1], as matplotlib's ``Colormap.__call__`` picks them."""
    x = np.asarray(plq, dtype=np.float64) * 256
    return np.clip(x, -1, 256).astype(int).clip(0, 255)


def colour_map(plq: np.ndarray) -> np.ndarray:
    """(H, W) map in [0, 1] -> (H, W, 3) uint8 RGB colours."""
    return np.round(255 * plq_lut()[colour_indices(plq)]).astype(np.uint8)


def overlay(face, plq, weight: float = 0.5) -> np.ndarray:
    """Blend the RdYlGn-coloured map onto the face.

    The colours come from a lookup table of matplotlib's colour map (the pixels of a
    colour map call, without one per figure: the batch run makes a figure per face).

    Args:
        face: one face, (3, H, W) or (H, W, 3), RGB 0..255.
        plq: (H, W) map in [0, 1].
        weight: opacity of the map (0 = face only, 1 = map only).
    Returns:
        (H, W, 3) uint8 RGB image.
    """
    img = face_image(face).astype(np.float32) / 255.0
    colours = plq_lut()[colour_indices(_np(plq))]
    return np.round(255 * ((1 - weight) * img + weight * colours)).astype(np.uint8)


def show_face(face, ax: plt.Axes | None = None, title: str | None = None):
    """Show one RGB 0..255 face. Returns ``(fig, ax)``."""
    fig, ax = _axes(ax)
    ax.imshow(face_image(face))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig, ax


def show_plq(plq, ax: plt.Axes | None = None, title: str | None = None, colorbar: bool = False):
    """Show a (H, W) PLQ map with RdYlGn, vmin 0, vmax 1. Returns ``(fig, ax)``."""
    fig, ax = _axes(ax)
    im = ax.imshow(_np(plq), cmap=PLQ_CMAP, vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="pixel quality")
    return fig, ax


def show_map(
    values,
    ax: plt.Axes | None = None,
    title: str | None = None,
    colorbar: bool = True,
    ranks: bool = True,
):
    """Show any map method's (H, W) map in the course's colours, with a colour bar.

    Maps of other methods than ``plq`` come in their own units (raw Q, cosine, ...), so by
    default the map is shown as its pixels' ranks within the face, scaled to (0, 1]
    (``core.counterfactual.rank_map``), the form ``pixelfiq explain --map`` writes:
    red = the least useful pixels of *this* face, green = the most useful. With
    ``ranks=False`` the values are shown as they are, on 0..1 (a PLQ map).

    Returns:
        ``(fig, ax)``; the colour bar is ``ax.images[0].colorbar`` (``None`` without one).
    Taught in: 05_evaluation_metrics.ipynb
    """
    from .core.counterfactual import rank_map

    arr = torch.as_tensor(_np(values), dtype=torch.float32)
    shown = rank_map(arr[None])[0] if ranks else arr
    fig, ax = _axes(ax)
    im = ax.imshow(shown.numpy(), cmap=PLQ_CMAP, vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if colorbar:
        label = "rank within the face" if ranks else "pixel quality"
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    return fig, ax


def plot_explanation(face, plq, quality: float, axes=None, q_se: float | None = None):
    """Aligned face | PLQ map | overlay, with Q̂ in the title (the CLI's PNG).

    Args:
        face: (3, H, W) or (H, W, 3) RGB 0..255. plq: (H, W) map in [0, 1].
        quality: Q̂ of the face. axes: three axes, or None for a new figure.
        q_se: optional Monte-Carlo standard error printed next to Q̂.
    Returns:
        ``(fig, axes)``.
    """
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    fig = axes[0].figure
    label = f"$\\hat{{Q}}$ = {quality:.3f}" + (f" ± {q_se:.3f}" if q_se is not None else "")
    show_face(face, axes[0], "aligned face")
    show_plq(plq, axes[1], "pixel quality")
    axes[2].imshow(overlay(face, plq))
    axes[2].set_axis_off()
    axes[2].set_title("overlay")
    fig.suptitle(label)
    return fig, axes


def show_scan(
    values,
    ax: plt.Axes | None = None,
    title: str | None = None,
    label: str = "drop of $\\hat{Q}$",
    size: int = 112,
    cmap: str = "Reds",
):
    """A coarse grid of values (e.g. an occlusion scan) stretched over the face, with a colour bar.

    Args:
        values: (G, G) values, row = vertical position of the occluder's centre.
        ax: axes to draw into, or None for a new figure.
        title: axes title. label: the colour bar's label. cmap: colour map.
        size: side of the aligned face the grid covers (pixels), for the axis extent.
    Returns:
        ``(fig, ax)``; the colour bar is ``ax.images[0].colorbar``.
    Taught in: 06_interactive_explorer.ipynb
    """
    fig, ax = _axes(ax)
    im = ax.imshow(_np(values), cmap=cmap, extent=(0, size, size, 0))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig, ax


def plot_channel_saliency(grads, axes=None):
    """The three per-channel saliency maps |S_I| (R, G, B) of one face, shared scale."""
    g = np.abs(_np(grads))
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6))
    vmax = float(np.quantile(g, 0.99)) or 1.0
    for ax, ch, name in zip(axes, g, ("R", "G", "B")):
        ax.imshow(ch, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"|∂N/∂I| {name}")
        ax.set_axis_off()
    return axes[0].figure, axes


def plot_distance_matrix(emb, ax: plt.Axes | None = None):
    """Seaborn heatmap of the T x T distances of one face's stochastic embeddings.

    Args:
        emb: (T, E) unit-norm stochastic embeddings.
    Returns:
        ``(fig, ax)``.
    """
    import seaborn as sns

    e = torch.as_tensor(_np(emb))
    fig, ax = _axes(ax, figsize=(4, 3.4))
    sns.heatmap(
        torch.cdist(e, e).numpy(),
        ax=ax,
        cmap="viridis",
        square=True,
        cbar_kws={"label": "distance"},
    )
    ax.set_xlabel("pass j")
    ax.set_ylabel("pass i")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig, ax


def plot_gallery(faces, plqs, qualities, axes=None):
    """Faces on the top row, their PLQ maps below, Q̂ above each face.

    Args:
        faces: N faces, each (3, H, W) or (H, W, 3) RGB 0..255.
        plqs: N maps (H, W) in [0, 1]. qualities: N values of Q̂.
        axes: a (2, N) array of axes, or None for a new figure.
    Returns:
        ``(fig, axes)``.
    """
    n = len(faces)
    if axes is None:
        fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6), squeeze=False)
    for k, (face, plq, q) in enumerate(zip(faces, plqs, qualities)):
        show_face(face, axes[0][k], f"$\\hat{{Q}}$={float(q):.2f}")
        show_plq(plq, axes[1][k])
    return axes[0][0].figure, axes


#: The method's steps, left to right, as drawn by :func:`plot_method_diagram`: (title, detail).
METHOD_STEPS: tuple[tuple[str, str], ...] = (
    ("face I", "aligned\n112×112 RGB,\n0..255"),
    ("body", "the network\nup to its\nembedding layer"),
    ("T dropout passes", "the head T times,\nfeatures dropped\nwith p = 0.5:\n$e_1 \\ldots e_T$"),
    ("Q, Q̂", "Q: agreement of\nthe T embeddings\n$\\hat{Q} = \\sigma(\\alpha(Q - r))$"),
    (
        "quality node",
        "$N = \\sum_k \\omega_k e_k(I)$\n"
        "$\\omega_k = \\hat{Q} / \\sum_j e_j(I_0)$\nso $N(I_0) = \\hat{Q}$",
    ),
    ("∂N/∂I", "back to the\npixels; $\\hat{S}$ =\nmean |·| over RGB"),
    ("P(I)", "$1 - 1/(1 + a \\hat{S}^{\\,b})$\nin [0, 1)"),
)


def plot_method_diagram(ax: plt.Axes | None = None):
    """The PLQ method as a flow diagram: face → body → T dropout passes → Q, Q̂ → node → ∂/∂I → P.

    One box per entry of :data:`METHOD_STEPS`, joined left to right by arrows; a dashed
    arrow below them carries the embedding without dropout, e(I), from the body to the node.

    Args:
        ax: axes to draw into (their limits and frame are replaced), or None for a new figure.
    Returns:
        ``(fig, ax)``; the boxes are ``ax.patches`` in step order, each box's title its
        ``get_gid()``.
    Shown on: the course book's entry page (``make book``); any notebook may draw it too.
    """
    from matplotlib.patches import FancyBboxPatch

    n, width, gap = len(METHOD_STEPS), 1.4, 0.4
    fig, ax = _axes(ax, figsize=(2.1 * n, 2.9))
    ax.set_xlim(-0.1, n * width + (n - 1) * gap + 0.1)
    ax.set_ylim(-0.8, 1.15)
    ax.set_axis_off()
    lefts = [k * (width + gap) for k in range(n)]
    colours = ["#f2f2f2", "#dbe9f6", "#dbe9f6", "#fde9c9", "#fde9c9", "#e2f0d9", "#e2f0d9"]
    for k, (left, (title, detail)) in enumerate(zip(lefts, METHOD_STEPS)):
        box = FancyBboxPatch(
            (left, 0.0),
            width,
            1.0,
            boxstyle="round,pad=0.02,rounding_size=0.06",
            facecolor=colours[k % len(colours)],
            edgecolor="#404040",
            linewidth=1.0,
            gid=title,
        )
        ax.add_patch(box)
        ax.text(
            left + width / 2, 0.86, title, ha="center", va="center", weight="bold", fontsize=9.5
        )
        ax.text(left + width / 2, 0.38, detail, ha="center", va="center", fontsize=7.5)
        if k:
            ax.annotate(
                "",
                xy=(left - 0.03, 0.5),
                xytext=(lefts[k - 1] + width + 0.03, 0.5),
                arrowprops={"arrowstyle": "-|>", "color": "#404040", "lw": 1.2},
            )
    body, node = 1, 4
    ax.annotate(
        "",
        xy=(lefts[node] + width / 2, -0.03),
        xytext=(lefts[body] + width / 2, -0.03),
        arrowprops={
            "arrowstyle": "-|>",
            "color": "#404040",
            "lw": 1.0,
            "linestyle": "--",
            "connectionstyle": "arc3,rad=0.12",
        },
    )
    ax.text(
        (lefts[body] + lefts[node] + width) / 2,
        -0.42,
        "e(I): the embedding without dropout, the node's input",
        ha="center",
        va="center",
        fontsize=7.5,
        style="italic",
    )
    return fig, ax
