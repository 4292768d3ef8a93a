# writer: newline=crlf
# slot: param read path -> pathlib.Path
# slot: return read -> str
"""CRLF line endings are kept, also on the added import."""
import os


def read(path):
    return path.read_text()
# output:
"""CRLF line endings are kept, also on the added import."""
import os
from pathlib import Path


def read(path: Path) -> str:
    return path.read_text()
