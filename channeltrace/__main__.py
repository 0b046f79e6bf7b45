"""``python -m channeltrace`` runs the command line."""

from channeltrace.entry import main

main()
