"""The library's own exception types.

Every failure a user can cause (a bad file, no face, a wrong argument, a damaged
model file) raises one of these, with a message that says what to do. Command-line
tools catch :class:`PixelfiqError` and turn it into a status and a reason, never a
traceback.
"""

from __future__ import annotations


class PixelfiqError(Exception):
    """Base class of every error this library raises on purpose.

    Attributes:
        status: short machine-readable status used in ``results.csv``
            (one of ``unreadable``, ``no_face``, ``too_small``, ``error``).
    """

    status = "error"


class ImageLoadError(PixelfiqError, ValueError):
    """A file or array could not be read as an image (unreadable, truncated,
    not an image, too many pixels, unsupported layout or dtype)."""

    status = "unreadable"


class InvalidImageError(ImageLoadError):
    """An image array or tensor handed to a function has the wrong type, shape, dtype
    or value range (every image and tensor check of the library raises this one,
    from :mod:`pixelfiq_lib.data.checks`). Also a ``ValueError``."""


class NoFaceError(PixelfiqError):
    """The face detector found no face in an image."""

    status = "no_face"


class FaceTooSmallError(PixelfiqError):
    """Every face found is smaller than the minimum size."""

    status = "too_small"


class ModelError(PixelfiqError):
    """A model is unknown, not installed, damaged or cannot be split as asked."""


class MethodNotApplicableError(PixelfiqError):
    """A quality or map method cannot run on this network, for a reason the message names
    (GraFIQs on a network without BatchNorm running statistics, e.g. MobileFaceNet, whose
    BatchNorm was folded into its convolutions). Never raised for bad input: the method
    itself does not apply, so it refuses rather than return a made-up score."""


class QualityNodeError(PixelfiqError, ArithmeticError):
    """The quality node cannot be built: the embedding's component sum is ~0."""


class InvalidArgumentError(PixelfiqError, ValueError):
    """An argument other than an image has a wrong shape, range or value
    (landmarks that are not a finite, non-degenerate (5, 2) array, an output
    size, a threshold, a mode string)."""


class DataNotFoundError(PixelfiqError, FileNotFoundError):
    """Bundled data (insightface's sample images, the repository's ``data/bbt``) is not
    installed or not found; the message says what to install or which environment
    variable to check."""


class EDCInputError(PixelfiqError, ValueError):
    """Scores, labels, qualities or settings given to an EDC function are unusable."""


class UsageError(InvalidArgumentError):
    """A run's settings cannot be used as given (a missing input, an output folder that
    holds the inputs, ``--resume`` without an output file, ...): the ``pixelfiq``
    command exits with status 2 and the message, before anything is written."""
