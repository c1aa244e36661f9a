"""``python -m hokusai_contracts``: the command line."""

from hokusai_contracts.commands.cli import main

raise SystemExit(main())
