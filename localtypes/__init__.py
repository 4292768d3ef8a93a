"""localtypes: type annotations predicted by a small model that runs on your machine."""

__version__ = "0.4.1"
