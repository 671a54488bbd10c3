"""Monte-Carlo stability of Q̂: T is raised until its standard error is small enough."""

from __future__ import annotations

import torch
from helpers.models import make_tiny_model

from pixelfiq_lib.core import stability


def test_t_is_raised_until_the_standard_error_is_below_the_threshold():
    model = make_tiny_model(torch.float32, size=16)
    x = torch.rand(3, 3, 16, 16) * 255
    loose = stability.quality_stability(model, x, threshold=1.0, steps=(10, 40))
    assert loose.judgeable and loose.n_passes == 10 and list(loose.se_by_passes) == [10]
    strict = stability.quality_stability(model, x, threshold=0.0, steps=(10, 40))
    assert not strict.judgeable and strict.n_passes is None
    se10, se40 = strict.se_by_passes[10][0], strict.se_by_passes[40][0]
    assert se40 < se10, "the standard error shrinks as T grows"
    assert "cannot be judged" in strict.note() and "T 40" in strict.note()
    back = stability.StabilityCheck(
        **{
            **stability.stability_record(strict),
            "se_by_passes": {
                int(k): v for k, v in stability.stability_record(strict)["se_by_passes"].items()
            },
        }
    )
    assert back == strict


def test_the_shipped_networks_have_a_recorded_verdict():
    for name in ("sface", "mobilefacenet"):
        check = stability.packaged_stability(name)
        assert check is not None and check.threshold == stability.SE_THRESHOLD
        if check.judgeable:
            assert check.se_by_passes[check.n_passes][0] <= check.threshold
        else:
            assert min(v[0] for v in check.se_by_passes.values()) > check.threshold
    assert stability.packaged_stability("nonesuch") is None
