"""The subcommands of ``pynix store`` (one module each; see :mod:`pynix.cli.store_cmd`)."""
