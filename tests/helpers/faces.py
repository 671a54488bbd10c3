"""Folders of real aligned face crops (insightface's sample faces) for batch-run tests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from PIL import Image


def write_faces(folder: Path, names: Iterable[str | bytes]) -> list[Path]:
    """Save the sample faces (cycled) as PNG files named ``names`` in ``folder``."""
    from pixelfiq_lib.data import sample_faces

    faces = sample_faces()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(names):
        path = os.path.join(os.fsencode(folder), os.fsencode(name))
        Image.fromarray(faces[k % len(faces)].image).save(path, format="PNG")
        paths.append(Path(os.fsdecode(path)))
    return paths
