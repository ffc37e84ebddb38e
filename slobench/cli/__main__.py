"""`python -m slobench.cli` runs the command line (tests use it with the current interpreter)."""

from slobench.cli.app import main

main()
