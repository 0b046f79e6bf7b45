"""``python -m channeltrace`` runs the command line."""

from channeltrace.cli import main

main()
