"""``pixelfiq models``: the networks, their licences and constants; ``models fetch NAME``."""

from __future__ import annotations

import argparse

from ...errors import UsageError
from ..options import say


def add_parser(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    logs = parents["logs"]
    p = sub.add_parser("models", parents=[logs], help="list networks; `models fetch NAME`")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also each network's constants and its quality_100 percentile table",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    fetch = actions.add_parser("fetch", parents=[logs], help="download a network once")
    fetch.add_argument("name", help="e.g. mobilefacenet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List networks; ``fetch NAME``: make one available offline."""
    from ... import models
    from ...batch import fix_hint

    if args.action == "fetch":
        if args.name.lower() not in models.MODELS:
            raise UsageError(f"unknown model {args.name!r}; known: {', '.join(models.MODELS)}")
        try:
            path = models.fetch_model(args.name)
        except models.ModelError as exc:  # no network, bad download: not a usage error
            say(f"error: {exc}")
            return 1
        say(f"{args.name} is ready offline: {path}")
        return 0
    for info in models.list_models():
        if not info["ready"]:
            ready = f"not here: {fix_hint(info['fetch_hint'])}"
        elif info["cache"] == "damaged":
            ready = "damaged: its converted cache fails the fixed digest; rebuilt at next use"
        else:
            ready = "ready offline"
        print(
            f"{info['name']}  [{ready}]\n    {info['description']}\n"
            f"    weights licence: {info['licence']}\n    source: {info['source']}"
        )
        if getattr(args, "verbose", False):
            print(model_details(models.MODELS[info["name"]]))
    return 0


def model_details(info) -> str:
    """``models --verbose``: constants, the quality_100 map and its percentile table."""
    from ...core import format_percentiles

    lines = [f"    alpha {info.alpha:g}, r {info.r:g}, plq_a {info.plq_a:.3g}"]
    m = info.quality_100
    if m is None:
        lines.append("    quality_100: not fitted (round(100 Q̂) is used)")
        return "\n".join(lines)
    lines += [
        f"    quality_100 = round(100 / (1 + exp(-{m.slope:g} (Q - {m.centre:g}))))",
        f"    fitted on {m.fitted_on}",
        f"    percentiles of {m.reported_on}:",
    ]
    lines += ["      " + row for row in format_percentiles(m).splitlines()]
    return "\n".join(lines)
