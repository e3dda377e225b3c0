"""The ``finlake`` commands, one module per command group.

Each module's ``register(subparsers)`` adds its sub-parser(s), with their arguments and a
``handler`` default ``(settings, args) -> exit code`` that finlake/cli.py calls. A module is
imported whenever the CLI starts (``finlake --help`` too), so what a command needs beyond the
standard library and core.settings is imported inside its handler.
"""
