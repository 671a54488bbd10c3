"""Configuration: FAST mode, paths, device choice and the notebook set-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelfiq_lib import config


@pytest.mark.parametrize("value, fast", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode_reads_the_environment(monkeypatch, value, fast):
    monkeypatch.setenv("PIXELFIQ_FAST", value)
    assert config.is_fast() is fast


def test_cache_dir_follows_pixelfiq_home(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXELFIQ_HOME", str(tmp_path / "cache"))
    assert config.cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()


def test_bbt_ships_in_the_repository_and_pixelfiq_data_overrides_it(monkeypatch, tmp_path):
    monkeypatch.delenv("PIXELFIQ_DATA", raising=False)
    assert config.bbt_dir() == config.REPO_ROOT / "data" / "bbt"
    assert len(list(config.bbt_dir().glob("*/*.png"))) == 40
    monkeypatch.setenv("PIXELFIQ_DATA", str(tmp_path / "nowhere"))
    assert config.bbt_dir() is None
    (tmp_path / "d" / "bbt").mkdir(parents=True)
    monkeypatch.setenv("PIXELFIQ_DATA", str(tmp_path / "d"))
    assert config.bbt_dir() == tmp_path / "d" / "bbt"


def test_nothing_outside_the_repository_is_read():
    """A learner's clone has no shared folder beside it: no path helper or variable points there."""
    assert not hasattr(config, "shared_dir") and not hasattr(config, "paper_dir")
    source = (config.REPO_ROOT / "pixelfiq_lib" / "config.py").read_text(encoding="utf-8")
    assert "PIXELFIQ_" + "SHARED" not in source and '"shared"' not in source


def test_device_choice(monkeypatch):
    monkeypatch.delenv("PIXELFIQ_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.get_device().type == expected == config.get_device("auto").type
    assert config.get_device("cpu").type == "cpu"
    monkeypatch.setenv("PIXELFIQ_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            config.get_device("cuda")


def test_setup_notebook_seeds_and_reports(monkeypatch, capsys):
    monkeypatch.setenv("PIXELFIQ_FAST", "1")
    cfg = config.setup_notebook(seed=3, device="cpu")
    first = (torch.rand(1).item(), np.random.rand())
    config.setup_notebook(seed=3, device="cpu")
    assert (torch.rand(1).item(), np.random.rand()) == first
    out = capsys.readouterr().out
    assert "torch" in out and "FAST=True" in out and "device cpu" in out
    assert cfg.fast and cfg.device.type == "cpu" and cfg.seed == 3
