"""`python -m slobench` runs the command line."""

from slobench.cli.app import main

main()
