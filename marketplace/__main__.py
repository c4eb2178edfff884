"""``python -m marketplace`` runs the command line."""
from marketplace.cli import main

main()
