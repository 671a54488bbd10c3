"""The sample-specific quality regression model (step 2)."""

from __future__ import annotations

import pytest
import torch

from pixelfiq_lib.core.quality import serfiq_quality
from pixelfiq_lib.core.regression import QualityNode, build_quality_regression
from pixelfiq_lib.errors import QualityNodeError


def test_node_outputs_the_images_own_quality_on_real_faces(sface, real_faces):
    x = real_faces[:4]
    q = serfiq_quality(sface, x, n_passes=16, seed=0).q
    mq = build_quality_regression(sface, x, q)
    with torch.no_grad():
        out = mq(x)
    torch.testing.assert_close(out, q, rtol=1e-4, atol=1e-6)
    # All weights of one node are equal: Q̂ / Σe.
    w = mq.node.weight
    assert torch.allclose(w, w[:, :1].expand_as(w))
    with torch.no_grad():
        torch.testing.assert_close(mq.node.scale, q / sface(x).sum(1), rtol=1e-4, atol=0)


def test_node_output_is_quality_times_embedding_sum_ratio(sface, real_faces):
    """N(I) = Q̂ Σe(I) / Σe(I0): at another image the node does not output that image's Q̂."""
    x0, x1 = real_faces[:1], real_faces[1:2]
    q0 = serfiq_quality(sface, x0, n_passes=16, seed=0).q
    mq = build_quality_regression(sface, x0, q0)
    with torch.no_grad():
        expected = q0 * sface(x1).sum(1) / sface(x0).sum(1)
        torch.testing.assert_close(mq(x1), expected, rtol=1e-4, atol=1e-7)


def test_degenerate_embedding_sum_raises_or_clamps():
    emb = torch.tensor([[0.6, -0.6, 0.0], [0.6, 0.8, 0.0]])
    q = torch.tensor([0.5, 0.5])
    with pytest.raises(QualityNodeError, match="image\\(s\\) \\[0\\]"):
        QualityNode.fit(emb, q)
    node = QualityNode.fit(emb, q, on_degenerate="clamp")
    assert torch.isfinite(node.weight).all()
    assert float(node(emb)[1]) == pytest.approx(0.5)


def test_official_variant_resets_head_batchnorm_only(sface, real_faces):
    official = sface.official_variant()
    bn = [
        m for m in official.head.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert bn, "SFace's head holds the fc1 BatchNorm"
    assert all(torch.all(m.running_mean == 0) and torch.all(m.running_var == 1) for m in bn)
    orig_bn = [
        m for m in sface.head.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert not torch.all(orig_bn[0].running_var == 1), (
        "the original network keeps its trained statistics"
    )
    with torch.no_grad():
        torch.testing.assert_close(
            official.features(real_faces[:1]), sface.features(real_faces[:1])
        )
        cos = torch.nn.functional.cosine_similarity(official(real_faces[:2]), sface(real_faces[:2]))
    assert (cos < 0.9999).all()
