"""One module per subcommand, each with ``add_parser(sub, parents)`` and ``run(args)``.

``evaluate`` and ``bench`` import the heavy evaluation code, so :mod:`..main` imports
them only when they are the command asked for.
"""
