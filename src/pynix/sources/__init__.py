"""Package sources: Debian packages and PyPI files as pinned inputs, imported into the store."""
