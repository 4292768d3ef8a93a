"""Build ``localtypes/edit/overrides.json``: typeshed's signatures of the standard-library
methods that user classes override most, for the cheap override check.

    python scripts/make_overrides.py        # needs mypy (the dev or verify extra)

The writer must not need a checker to know that ``tzinfo.tzname`` takes ``datetime | None``
or that ``__eq__`` takes ``object``, so the signatures are read once from the typeshed that
mypy bundles (through mypy's own semantic analysis, bases and all) and kept as a small
table of canonical labels. Rerun it when the list below or mypy's typeshed changes.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "localtypes" / "edit" / "overrides.json"

# Classes user code commonly derives from (object is every class's base).
CLASSES = """
builtins.object builtins.BaseException builtins.Exception builtins.dict builtins.list
builtins.set builtins.str builtins.int builtins.tuple builtins.float
datetime.tzinfo json.JSONEncoder json.JSONDecoder
logging.Handler logging.StreamHandler logging.FileHandler logging.Formatter logging.Filter
logging.LoggerAdapter logging.Logger threading.Thread ast.NodeVisitor ast.NodeTransformer
html.parser.HTMLParser argparse.Action argparse.HelpFormatter argparse.ArgumentParser
unittest.TestCase collections.OrderedDict collections.defaultdict collections.UserDict
collections.UserList collections.UserString collections.abc.Mapping
collections.abc.MutableMapping collections.abc.Sequence collections.abc.MutableSequence
collections.abc.Set collections.abc.MutableSet collections.abc.Iterator
collections.abc.Iterable collections.abc.Container collections.abc.Sized
collections.abc.Hashable collections.abc.Callable io.IOBase io.RawIOBase
io.BufferedIOBase io.TextIOBase io.StringIO io.BytesIO string.Formatter enum.Enum
socketserver.BaseRequestHandler socketserver.StreamRequestHandler
http.server.BaseHTTPRequestHandler http.server.SimpleHTTPRequestHandler
xml.sax.handler.ContentHandler cmd.Cmd codecs.Codec codecs.IncrementalEncoder
codecs.IncrementalDecoder queue.Queue configparser.ConfigParser configparser.RawConfigParser
random.Random pickle.Pickler pickle.Unpickler email.message.Message
contextlib.ContextDecorator numbers.Number asyncio.Protocol asyncio.DatagramProtocol
""".split()  # noqa: SIM905

_PREFIXES = ("builtins.", "typing.", "typing_extensions.", "collections.abc.", "_typeshed.")


def label_of(text: str) -> str:
    """mypy's type text as a canonical label: ``builtins.str | None`` -> ``str | None``."""
    text = text.replace("*", "")
    for prefix in _PREFIXES:
        text = re.sub(r"(?<![\w.])" + re.escape(prefix), "", text)
    return text


def main() -> int:
    from mypy import build
    from mypy.modulefinder import BuildSource
    from mypy.nodes import Decorator, FuncDef, OverloadedFuncDef
    from mypy.options import Options
    from mypy.types import CallableType

    modules = sorted({name.rpartition(".")[0] for name in CLASSES})
    text = "".join(f"import {module}\n" for module in modules)
    options = Options()
    options.incremental = False
    with tempfile.TemporaryDirectory() as folder:
        options.cache_dir = folder
        result = build.build([BuildSource(None, "__probe__", text)], options)
    table: Dict[str, Dict[str, Any]] = {}
    for fullname in CLASSES:
        module, _, name = fullname.rpartition(".")
        node = result.graph[module].tree.names.get(name) if module in result.graph else None
        info = getattr(node.node, "info", None) if node else None
        info = node.node if node and hasattr(node.node, "mro") else info
        if info is None or not hasattr(info, "mro"):
            print(f"not found: {fullname}", file=sys.stderr)
            continue
        methods: Dict[str, Any] = {}
        for base in info.mro:
            if base.fullname == "builtins.object" and fullname != "builtins.object":
                continue  # object's methods are looked up on their own
            for method, symbol in base.names.items():
                if method in methods:
                    continue
                func = symbol.node
                if isinstance(func, Decorator):
                    func = func.func
                if isinstance(func, OverloadedFuncDef) or not isinstance(func, FuncDef):
                    continue
                if not isinstance(func.type, CallableType) or func.is_static:
                    continue
                kinds = func.type.arg_kinds
                params: List[List[Any]] = []
                for index, (arg, kind) in enumerate(zip(func.type.arg_names, kinds)):
                    if index == 0:
                        continue  # self / cls
                    params.append([arg, label_of(str(func.type.arg_types[index])), kind.value])
                methods[method] = {"params": params, "return": label_of(str(func.type.ret_type))}
        table[label_of(fullname) if fullname.startswith("builtins.") else fullname] = methods
    OUT.write_text(json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n", "utf-8")
    print(f"{OUT}: {len(table)} classes, {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
