"""``python -m engine.cli``: the same as the ``mailbranch`` command."""

from engine.cli import main

main()
