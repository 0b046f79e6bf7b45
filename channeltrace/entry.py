"""The ``channeltrace`` console script: ``edge run``/``edge status`` take the lean path.

On a gateway every megabyte counts (docs/edge.md, "Memory"): the full command line imports
typer, rich and every package's command module (~10 MB more than the agent itself), so
those two commands are handed to :mod:`edge.__main__` before any of that is imported.
Everything else, including ``--help``, goes to the typer application.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_LEAN_EDGE_COMMANDS = frozenset({"run", "status"})


def main() -> None:
    args = sys.argv[1:]
    if (
        len(args) >= 2
        and args[0] == "edge"
        and args[1] in _LEAN_EDGE_COMMANDS
        and not {"--help", "-h"} & set(args)
    ):
        from edge.__main__ import main as edge_main

        sys.exit(edge_main(args[1:]))
    from channeltrace.cli import main as cli_main

    cli_main()
