"""The ``mailbranch`` command line: one module per group of commands.

Every command turns bad input into one clear sentence and an exit code, never
a traceback: 0 all well, 1 the flow has errors (or the run failed), 2 a file
could not be read. ``common`` holds what they share; importing a command
module registers its commands on ``common.app``.
"""

from __future__ import annotations

import sys

from rich.markup import escape

from engine.cli.common import app, err

# Importing a command module registers its commands; --help lists them in this order.
# isort: off
from engine.cli import flows, runs, watch  # noqa: F401, E402
from engine.cli import servers, suppression, secrets  # noqa: F401, E402
from engine.cli import dkim, preflight, test_send  # noqa: F401, E402
from engine.cli import relay  # noqa: F401, E402
from engine.cli import publish  # noqa: F401, E402
from engine.cli import mailflow  # noqa: F401, E402
# isort: on


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("Stopped.")
        sys.exit(130)
    except Exception as exc:
        # Commands that open a database without open_db (serve, worker, simulate --db)
        # refuse a newer one with its sentence too, not a traceback.
        from engine.store.schema import SchemaError

        if not isinstance(exc, SchemaError):
            raise
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)

