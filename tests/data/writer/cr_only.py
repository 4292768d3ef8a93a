# writer: newline=cr
# slot: param read path -> pathlib.Path
# slot: return read -> str
def read(path):
    return path.read_text()
# output:
from pathlib import Path

def read(path: Path) -> str:
    return path.read_text()
