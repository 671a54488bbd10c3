"""Inputs of a batch run: files, folders and globs expanded to items, and shards."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..errors import InvalidArgumentError
from ..files import is_image_name

log = logging.getLogger(__name__)

COLUMNS = (
    "source",
    "face",
    "status",
    "quality",
    "quality_raw",
    "map_file",
    "error",
    "quality_se",
    "n_faces",
    "quality_100",
    "not_a_face",
    "lowest_region",
    "lowest_region_score",
)
STATUSES = ("ok", "no_face", "unreadable", "too_small", "skipped", "error")
#: File written into every ``explain --out`` folder; folders holding it are not inputs
#: (unless they also hold images pixelfiq did not write: see :func:`foreign_images`).
OUTPUT_MARKER = ".pixelfiq-output"
#: Names of the images pixelfiq writes: ``<stem>-<8 hex>_<face>.png`` and the demo's overview.
PIXELFIQ_IMAGE = re.compile(r"(?:[A-Za-z0-9._-]*-[0-9a-f]{8}_\d+|overview)\.png")
#: Longest file-name stem kept before the hash (characters).
MAX_STEM = 60
#: Size in inches of the per-face figure (the size ``viz.plot_explanation`` uses).
FIGURE_SIZE = (7.5, 2.8)
_QUEUE_INPUTS = 4  # decoded inputs waiting for the model, at most
_DONE = object()


# ------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class InputItem:
    """One input file of a batch run.

    Attributes:
        path: the file path (``str``; undecodable bytes kept by ``surrogateescape``).
        source: printable text of ``path`` for tables and logs (:func:`display_path`).
        aligned: the file is an already aligned face crop (no detection).
        skip_reason: set when the entry cannot be processed at all (an unlistable folder).
    """

    path: str
    source: str
    aligned: bool = False
    skip_reason: str | None = None


def display_path(path: str | bytes | os.PathLike) -> str:
    r"""Printable text of a path, one to one: two paths never get the same text.

    A backslash is doubled (``\\``); undecodable bytes become ``\xNN`` (NN >= 80);
    control characters below U+0080 become ``\n``, ``\t``, ``\r`` or ``\xNN``
    (NN < 80); other unprintable characters ``\uNNNN`` or ``\UNNNNNNNN``. So a name
    holding a newline and a name holding a backslash and an ``n`` stay apart, and the
    table's ``source`` column identifies each input.
    """
    text = os.fsencode(path).decode("utf-8", "surrogateescape")
    return "".join(_escape(c) for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    if c == "\\":
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if c.isprintable() or c == " ":
        return c
    if code < 0x80:
        return c.encode("unicode_escape").decode()
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def expand_inputs(
    args: Sequence[str], *, aligned: bool = False, exclude: Iterable[str | os.PathLike] = ()
) -> list[InputItem]:
    """Turn command-line INPUTs (files, folders, glob patterns) into the ordered input list.

    Args:
        args: the INPUT arguments, in command-line order.
        aligned: mark every input as an already aligned face crop.
        exclude: folders never read as input (the run's own output folder).
    Returns:
        Inputs in argument order, folders and glob matches sorted by name, each path once
        (possibly none: an empty folder is not an error here).
    Raises:
        InvalidArgumentError: an argument is neither an existing path nor a pattern
            that matches something.
    """
    walker = _Walker({os.path.realpath(p) for p in exclude})
    items: dict[str, InputItem] = {}
    missing = []
    for arg in args:
        found = list(walker.expand(arg))
        if not found and not os.path.lexists(arg):
            missing.append(arg)
        for path, reason in found:
            key = os.path.abspath(path)
            items.setdefault(
                key, InputItem(path, display_path(os.path.normpath(path)), aligned, reason)
            )
    if missing:
        raise InvalidArgumentError(
            "no such file or folder, and no match for the pattern: "
            + ", ".join(display_path(m) for m in missing)
        )
    walker.log_ignored()
    return list(items.values())


class _Walker:
    """Loop-safe expansion of files, folders and glob patterns (state: folders seen)."""

    def __init__(self, excluded: set[str]) -> None:
        self.excluded = excluded
        self.visited: set[str] = set()
        self.warned: set[str] = set()
        self.n_ignored, self.example = 0, ""

    def expand(self, arg: str) -> Iterator[tuple[str, str | None]]:
        """Yield ``(path, skip_reason)`` for one argument (nothing when it matches nothing)."""
        if os.path.lexists(arg) and not os.path.isdir(arg):
            yield arg, None
        elif os.path.isdir(arg):
            found = False
            for path, reason in self.walk(arg):
                if reason or is_image_name(path):
                    found = True
                    yield path, reason
                else:
                    self._ignore(path)
            if not found and is_image_name(arg.rstrip(os.sep)):  # a folder named x.jpg
                yield arg, "a folder named like an image, holding no image files"
        elif glob.has_magic(arg):
            yield from self.glob(arg)

    def glob(self, pattern: str) -> Iterator[tuple[str, str | None]]:
        """Shell-like matches of ``pattern``; ``**`` is walked here, never by ``glob``."""
        if "**" not in pattern:
            for path in sorted(glob.glob(pattern)):
                if os.path.isdir(path):
                    yield from self.expand(path)
                elif not self._is_output(os.path.dirname(path) or ".") and not (
                    self._written_here(path)
                ):
                    yield path, None
            return
        parts = pattern.split(os.sep)
        cut = next(i for i, part in enumerate(parts) if glob.has_magic(part))
        base = os.sep.join(parts[:cut]) or ("/" if pattern.startswith(os.sep) else ".")
        if not os.path.isdir(base):
            return
        for path, reason in self.walk(base):
            rel = os.path.relpath(path, base).split(os.sep)
            if reason or _match_parts(parts[cut:], rel):
                yield (path if parts[:cut] else os.path.relpath(path)), reason

    def walk(self, root: str) -> Iterator[tuple[str, str | None]]:
        """Every non-hidden file under ``root`` in name order, each real folder once."""
        stack = [iter([root])]
        while stack:
            path = next(stack[-1], None)
            if path is None:
                stack.pop()
            elif not os.path.isdir(path):
                if not self._written_here(path):
                    yield path, None
            elif self._enter(path):
                entries, reason = _list_dir(path)
                if reason:
                    yield path, reason
                for hidden in (e for e in entries if os.path.basename(e).startswith(".")):
                    self._ignore(hidden)
                stack.append(e for e in entries if not os.path.basename(e).startswith("."))

    def _enter(self, folder: str) -> bool:
        real = os.path.realpath(folder)
        if real in self.visited or self._is_output(folder):
            log.debug("not entering %s (seen, or an output folder)", display_path(folder))
            return False
        self.visited.add(real)
        return True

    def _is_output(self, folder: str) -> bool:
        """The run's own output, or a marked folder holding only what pixelfiq wrote.

        A marked folder that also holds other images is read (without the images
        pixelfiq wrote), with a warning: the marker must never hide a user's photos.
        """
        real = os.path.realpath(folder)
        if real in self.excluded:
            return True
        if not os.path.exists(os.path.join(folder, OUTPUT_MARKER)):
            return False
        foreign = foreign_images(folder)
        if foreign and real not in self.warned:
            self.warned.add(real)
            log.warning(
                "%s holds a pixelfiq output marker but also %d image(s) pixelfiq did not "
                "write (e.g. %s); reading those",
                display_path(folder),
                len(foreign),
                display_path(foreign[0]),
            )
        return not foreign

    def _written_here(self, path: str) -> bool:
        """An image pixelfiq wrote, inside a marked output folder."""
        folder = os.path.dirname(path) or "."
        return bool(PIXELFIQ_IMAGE.fullmatch(os.path.basename(path))) and os.path.exists(
            os.path.join(folder, OUTPUT_MARKER)
        )

    def _ignore(self, path: str) -> None:
        self.n_ignored += 1
        self.example = self.example or path

    def log_ignored(self) -> None:
        """One log line about the files and folders in folders that were not inputs."""
        if self.n_ignored:
            log.info(
                "ignored %d hidden or non-image entries in folders, e.g. %s",
                self.n_ignored,
                display_path(self.example),
            )


def foreign_images(folder: str | os.PathLike) -> list[str]:
    """Image files directly in ``folder`` whose names pixelfiq does not write (sorted)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [
        n
        for n in names
        if is_image_name(n) and not n.startswith(".") and not PIXELFIQ_IMAGE.fullmatch(n)
    ]


def _list_dir(folder: str) -> tuple[list[str], str | None]:
    """Sorted entries of ``folder`` (paths), or a reason it cannot be listed."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        return [], f"cannot list the folder ({type(exc).__name__}: {exc.strerror or exc})"
    return [os.path.join(folder, n) for n in names], None


def _match_parts(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Match path components against pattern components; ``**`` spans any number."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match_parts(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], pattern[0])
        and _match_parts(pattern[1:], parts[1:])
    )


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``--shard i/n`` (1-based: ``1/4`` ... ``4/4``).

    Raises:
        InvalidArgumentError: not two integers with 1 <= i <= n.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    i, n = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not 1 <= i <= n:
        raise InvalidArgumentError(
            f"--shard must be i/n with 1 <= i <= n (1-based, e.g. 1/4), got {text!r}"
        )
    return i, n


def select_shard(items: Sequence[InputItem], shard: tuple[int, int] | None) -> list[InputItem]:
    """Inputs of shard ``i/n``: positions k of the expanded list with k % n == i - 1."""
    if shard is None:
        return list(items)
    i, n = shard
    return [item for k, item in enumerate(items) if k % n == i - 1]
