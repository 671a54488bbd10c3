"""The ``pixelfiq`` command: pixel-level quality maps and qualities for folders of photos.

Subcommands::

    pixelfiq explain INPUT... --out DIR   maps (.npy), figures (.png) and DIR/results.csv
    pixelfiq quality INPUT... [--out FILE.csv]   qualities only (CSV to stdout without --out)
    pixelfiq quality --calibrate DIR [--out FILE.json]   fit quality_100 to DIR's faces;
                                          explain/quality --settings FILE.json apply it
    pixelfiq merge SHARD... [--out FILE]  join the tables of --shard runs into one
    pixelfiq models [fetch NAME]          list the networks / make one available offline
    pixelfiq demo [--out DIR]             explain insightface's sample photos
    pixelfiq check                        is this machine ready for the course?
    pixelfiq evaluate ... / bench ...     the evaluation toolkit and the benchmark

Each subcommand is a module of :mod:`.commands` that parses its options and prints; the
work is done by the library (:mod:`pixelfiq_lib.batch`, :mod:`pixelfiq_lib.evaluation`).
INPUTs are files, folders (recursive) and glob patterns; see :mod:`pixelfiq_lib.batch.inputs`
for which files in folders are read and how output files are named.

Streams: logs and the progress bar go to stderr; data goes to files (``quality``
without ``--out`` writes its CSV to stdout). The closing summary and the "outputs are
in ..." lines also go to stderr, so stdout only ever carries data, and they are
printed even with ``--quiet``.

Exit status: 0 every input processed OK; 1 some inputs failed (the results are still
written; see the ``status`` and ``error`` columns) or a command failed; 2 bad
arguments, refused before anything is written (unknown option, a number out of range:
``--passes`` in [2, 1000], ``--seed`` in [0, 2^63), sizes >= 1; a device that does
not exist here; INPUT that does not exist, nothing to process, bad ``--shard``, unknown
or missing model, ``--resume`` with other settings or a damaged earlier table,
``--out`` empty, equal to or above an INPUT folder, holding results without
``--resume``/``--overwrite``, or not writable, another run writing the same table (the
lock of :mod:`pixelfiq_lib.batch.lock`), shards that do not ``merge``, an ``--address``
that does not answer); 130 interrupted. A refused run creates nothing. No traceback is
shown unless ``--debug`` is given.

Rules of the output folder, the lock, shards and ``merge``, ``--resume`` and the CSV
escaping: README.md, "The command line".

Taught in: README.md (command-line use)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ..errors import UsageError

log = logging.getLogger("pixelfiq")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Subcommands in the order of ``--help``: name -> help text. Each is the module
#: ``pixelfiq_lib.cli.commands.<name>``; those in :data:`PLUGINS` import the evaluation
#: code, so they are imported only when they are the command asked for.
COMMANDS = {
    "explain": "PLQ maps, figures and results.csv",
    "quality": "SER-FIQ qualities only, as CSV",
    "demo": "explain insightface's sample photos",
    "models": "list networks; `models fetch NAME`",
    "merge": "join the shard tables of one run (results-shardIofN.csv) into one table",
    "check": "is this machine ready for the course?",
    "evaluate": "masking/inpainting experiments and metrics",
    "bench": "time the networks and the PLQ pipeline",
}
PLUGINS = {
    name: (f"pixelfiq_lib.cli.commands.{name}", COMMANDS[name]) for name in ("evaluate", "bench")
}


def build_parser(
    plugin: object | None = None, plugin_name: str | None = None
) -> argparse.ArgumentParser:
    """The argument parser; ``plugin`` (the imported evaluate/bench module) adds its options."""
    from .options import common_parents

    parents = common_parents()
    parser = argparse.ArgumentParser(
        prog="pixelfiq",
        description="Pixel-level face image quality (PLQ) maps, on SER-FIQ.",
        epilog="exit status: 0 all inputs OK, 1 some failed, 2 bad arguments",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        if name in PLUGINS:
            if name == plugin_name and plugin is not None:
                plugin.add_parser(sub, parents)
            else:
                sub.add_parser(name, help=text, add_help=False)
        else:
            importlib.import_module(f".commands.{name}", __package__).add_parser(sub, parents)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pixelfiq")
    except PackageNotFoundError:
        return "unknown"


def _setup_logging(args: argparse.Namespace) -> None:
    debug, quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    if not debug:
        for noisy in ("matplotlib", "PIL", "onnx2torch"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        _quiet_opencv()


def _quiet_opencv() -> None:
    """Silence OpenCV's own stderr notes (such as its DNN target warning) below errors."""
    try:
        from cv2.utils import logging as cv_logging

        cv_logging.setLogLevel(cv_logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):  # another OpenCV build: keep its default
        pass


def _load_plugin(name: str) -> object:
    """Import the module behind ``evaluate``/``bench``; UsageError when it is missing."""
    module_name = PLUGINS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"`pixelfiq {name}` is not available: {module_name} cannot be "
            f"imported ({exc}); update pixelfiq or install its dependencies"
        ) from exc
    if not all(hasattr(module, f) for f in ("add_parser", "run")):
        raise UsageError(f"`pixelfiq {name}`: {module_name} lacks add_parser/run")
    return module


def _command_name(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pixelfiq`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = None
    try:
        name = _command_name(argv)
        plugin = _load_plugin(name) if name in PLUGINS else None
        args = build_parser(plugin, name).parse_args(argv)
        _setup_logging(args)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help (0) or bad arguments (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        print("pixelfiq: interrupted; rerun with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # the user sees a message, never a traceback
        return _report(exc, args)


def _report(exc: Exception, args: argparse.Namespace | None) -> int:
    """Print a one-line error (a traceback only with --debug); return the exit status."""
    from ..errors import InvalidArgumentError, ModelError

    usage = isinstance(exc, (InvalidArgumentError, ModelError))
    if getattr(args, "debug", False):
        log.exception("failed")
    text = str(exc) if usage else f"{type(exc).__name__}: {exc} (run with --debug for details)"
    print(f"pixelfiq: error: {' '.join(text.split())}", file=sys.stderr)
    return EXIT_USAGE if usage else EXIT_FAILED
