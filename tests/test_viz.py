"""Plot helpers run headless and return their figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelfiq_lib import viz


def test_overlay_blends_map_colours_into_the_face():
    face = np.zeros((112, 112, 3), np.uint8)
    plq = np.zeros((112, 112))
    plq[:, 56:] = 1.0
    out = viz.overlay(face, plq, weight=1.0)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] > 150 and out[0, 0, 1] < 50, "low quality is red"
    assert out[0, -1, 1] > 80 and out[0, -1, 0] < 50, "high quality is green"
    torch.testing.assert_close(
        torch.from_numpy(viz.overlay(face, plq, 0.0)), torch.from_numpy(face)
    )


def test_plot_explanation_has_three_panels_and_prints_quality():
    face = torch.rand(3, 112, 112) * 255
    fig, axes = viz.plot_explanation(face, torch.rand(112, 112), 0.734, q_se=0.01)
    assert len(axes) == 3 and "0.734" in fig._suptitle.get_text()
    assert axes[1].images[0].get_cmap().name == "RdYlGn"
    assert axes[1].images[0].get_clim() == (0, 1)


def test_face_image_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="RGB face"):
        viz.face_image(np.zeros((4, 112, 112)))


def test_channel_and_distance_plots_render():
    fig, axes = viz.plot_channel_saliency(torch.randn(3, 112, 112))
    assert len(axes) == 3
    emb = torch.nn.functional.normalize(torch.randn(10, 8), dim=1)
    fig, ax = viz.plot_distance_matrix(emb)
    assert ax.collections, "a heatmap was drawn"


def test_gallery_puts_faces_above_their_maps():
    faces = [torch.rand(3, 112, 112) * 255 for _ in range(3)]
    fig, axes = viz.plot_gallery(faces, [torch.rand(112, 112)] * 3, [0.1, 0.5, 0.9])
    assert axes.shape == (2, 3)
    assert "0.90" in axes[0][2].get_title()
    assert axes[1][0].images[0].get_clim() == (0, 1)


def test_show_face_and_show_plq_use_the_papers_display():
    fig, ax = viz.show_face(torch.rand(3, 112, 112) * 255, title="face")
    assert ax.images[0].get_array().shape == (112, 112, 3) and ax.get_title() == "face"
    fig, ax = viz.show_plq(torch.rand(112, 112), colorbar=True)
    img = ax.images[0]
    assert img.get_cmap().name == "RdYlGn" and img.get_clim() == (0, 1)
    assert len(fig.axes) == 2, "the colour bar has its own axes"


def test_show_scan_stretches_the_grid_over_the_face_with_a_colour_bar():
    fig, ax = viz.show_scan(np.arange(9.0).reshape(3, 3), title="scan")
    im = ax.images[0]
    assert im.colorbar is not None and "Q" in im.colorbar.ax.get_ylabel()
    assert im.get_extent() == [0, 112, 112, 0] and ax.get_title() == "scan"


def test_show_map_draws_any_map_as_ranks_low_red_with_a_colour_bar():
    values = torch.zeros(112, 112)
    values[:, 56:] = -0.01  # raw-Q units: the right half lowers quality
    fig, ax = viz.show_map(values, title="counterfactual")
    im = ax.images[0]
    shown = im.get_array()
    assert im.get_cmap().name == "RdYlGn" and im.get_clim() == (0, 1), "low = red, as P(I)"
    assert float(shown[:, 56:].max()) < float(shown[:, :56].min()), "the harmful half ranks low"
    assert 0 < float(shown.min()) < float(shown.max()) <= 1.0  # ties share their mean rank
    assert im.colorbar is not None and "rank" in im.colorbar.ax.get_ylabel()
    assert ax.get_title() == "counterfactual"
    fig, ax = viz.show_map(values.abs(), ranks=False, colorbar=False)
    assert ax.images[0].colorbar is None
    assert float(ax.images[0].get_array().max()) == pytest.approx(0.01)


def test_method_diagram_draws_the_steps_in_order_with_every_label_inside_its_box():
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.text import Annotation

    fig, ax = viz.plot_method_diagram()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert [b.get_gid() for b in boxes] == [title for title, _ in viz.METHOD_STEPS]
    assert [b.get_gid() for b in boxes][1:] == [
        "body",
        "T dropout passes",
        "Q, Q̂",
        "quality node",
        "∂N/∂I",
        "P(I)",
    ]
    lefts = [b.get_x() for b in boxes]
    assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), "one row, left to right"
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert len(arrows) == len(boxes), "one arrow between neighbours, one from body to node"

    fig.canvas.draw()  # layout: every title and detail sits inside its own box
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if not isinstance(t, Annotation) and t.get_text()]
    for box in boxes:
        frame = box.get_window_extent(renderer)
        centres = [t.get_window_extent(renderer) for t in labels]
        inside = [
            t
            for t, c in zip(labels, centres)
            if frame.contains((c.x0 + c.x1) / 2, (c.y0 + c.y1) / 2)
        ]
        assert len(inside) == 2, (box.get_gid(), [t.get_text() for t in inside])
        for text in inside:
            extent = text.get_window_extent(renderer)
            assert frame.x0 <= extent.x0 and extent.x1 <= frame.x1, (box.get_gid(), text)
            assert frame.y0 <= extent.y0 and extent.y1 <= frame.y1, (box.get_gid(), text)


def test_method_diagram_draws_into_given_axes():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1)
    out_fig, out_ax = viz.plot_method_diagram(axes[1])
    assert out_fig is fig and out_ax is axes[1] and not axes[1].axison
    assert len(axes[1].patches) == len(viz.METHOD_STEPS) and not axes[0].patches
