"""The ``herald`` command and its subcommands."""
