"""Names the writer may import on its own: typing names and well-known standard-library types.

A static table, not an import of the modules: importing arbitrary standard-library modules
to check a name has side effects and costs start-up time, and the table is what we vouch
for on every supported Python version.
"""

from __future__ import annotations

import builtins
import typing
from typing import Dict, FrozenSet, Tuple

BUILTIN_NAMES: FrozenSet[str] = frozenset(
    name for name in dir(builtins) if not name.startswith("_")
)

# Builtins that may be subscripted at run time from Python 3.9 (PEP 585), and their
# typing spelling for older targets.
BUILTIN_GENERICS: Dict[str, str] = {
    "list": "List",
    "dict": "Dict",
    "set": "Set",
    "frozenset": "FrozenSet",
    "tuple": "Tuple",
    "type": "Type",
}

# Standard-library classes with a typing alias for targets before 3.9.
STDLIB_GENERIC_ALIASES: Dict[str, str] = {
    "collections.deque": "Deque",
    "collections.defaultdict": "DefaultDict",
    "collections.OrderedDict": "OrderedDict",
    "collections.Counter": "Counter",
    "collections.ChainMap": "ChainMap",
    "re.Pattern": "Pattern",
    "re.Match": "Match",
    "contextlib.AbstractContextManager": "ContextManager",
    "contextlib.AbstractAsyncContextManager": "AsyncContextManager",
}

# Standard-library classes that accept ``[...]`` at run time from Python 3.9.
STDLIB_GENERICS_39: FrozenSet[str] = frozenset(
    {
        *STDLIB_GENERIC_ALIASES,
        "os.PathLike",
        "os.DirEntry",
        "queue.Queue",
        "queue.LifoQueue",
        "queue.PriorityQueue",
        "queue.SimpleQueue",
        "asyncio.Future",
        "asyncio.Task",
        "asyncio.Queue",
        "concurrent.futures.Future",
        "subprocess.Popen",
        "subprocess.CompletedProcess",
        "weakref.ref",
        "weakref.WeakKeyDictionary",
        "weakref.WeakValueDictionary",
        "weakref.WeakSet",
        "types.MappingProxyType",
        "functools.partial",
        "itertools.chain",
        "tempfile.TemporaryDirectory",
        "tempfile.SpooledTemporaryFile",
        "ctypes.Array",
        "mmap.mmap",
    }
)

# Typing names newer than some targets, with the Python version that added them.
TYPING_MIN_VERSION: Dict[str, Tuple[int, int]] = {
    "Literal": (3, 8),
    "Protocol": (3, 8),
    "Final": (3, 8),
    "TypedDict": (3, 8),
    "SupportsIndex": (3, 8),
    "ParamSpec": (3, 10),
    "ParamSpecArgs": (3, 10),
    "ParamSpecKwargs": (3, 10),
    "Concatenate": (3, 10),
    "TypeAlias": (3, 10),
    "TypeGuard": (3, 10),
    "Self": (3, 11),
    "Never": (3, 11),
    "LiteralString": (3, 11),
    "Required": (3, 11),
    "NotRequired": (3, 11),
    "Unpack": (3, 11),
    "TypeVarTuple": (3, 11),
    "override": (3, 12),
    "TypeAliasType": (3, 12),
    "TypeIs": (3, 13),
    "ReadOnly": (3, 13),
    "NoDefault": (3, 13),
}

# Public typing names of this Python plus those of newer ones (gated by TYPING_MIN_VERSION).
TYPING_NAMES: FrozenSet[str] = frozenset(
    name
    for name in (*typing.__all__, *TYPING_MIN_VERSION)
    if name[:1].isupper() and name not in {"TYPE_CHECKING", "AnyStr"}
) | {"AnyStr"}

_KNOWN: Dict[str, str] = {
    "abc": "ABC ABCMeta",
    "argparse": "Action ArgumentParser Namespace FileType HelpFormatter",
    "array": "array",
    "ast": (
        "AST mod Module Expression expr stmt Name Attribute Call Constant FunctionDef "
        "AsyncFunctionDef ClassDef Assign AnnAssign Return arg arguments keyword Subscript "
        "Tuple List Dict Set BinOp UnaryOp BoolOp Compare Lambda If For While With Try "
        "Import ImportFrom alias NodeVisitor NodeTransformer expr_context operator"
    ),
    "asyncio": (
        "AbstractEventLoop BaseEventLoop Event Future Handle Lock Queue Semaphore Server "
        "StreamReader StreamWriter Task TimerHandle Transport BaseTransport Protocol "
        "BaseProtocol Condition"
    ),
    "collections": "ChainMap Counter OrderedDict defaultdict deque",
    "concurrent.futures": "Executor Future ProcessPoolExecutor ThreadPoolExecutor",
    "configparser": "ConfigParser RawConfigParser SectionProxy",
    "contextlib": "AbstractAsyncContextManager AbstractContextManager ExitStack AsyncExitStack",
    "csv": "Dialect DictReader DictWriter Sniffer",
    "ctypes": "Array CDLL Structure Union",
    "dataclasses": "Field",
    "datetime": "date datetime time timedelta timezone tzinfo",
    "decimal": "Context Decimal",
    "email.message": "EmailMessage Message",
    "enum": "Enum EnumMeta Flag IntEnum IntFlag",
    "fractions": "Fraction",
    "ftplib": "FTP",
    "functools": "partial",
    "gzip": "GzipFile",
    "http.client": "HTTPConnection HTTPResponse HTTPSConnection HTTPMessage",
    "http.cookiejar": "CookieJar",
    "http.server": "BaseHTTPRequestHandler HTTPServer",
    "importlib.machinery": "ModuleSpec",
    "inspect": "BoundArguments FrameInfo Parameter Signature",
    "io": (
        "BufferedIOBase BufferedReader BufferedWriter BytesIO FileIO IOBase RawIOBase StringIO "
        "TextIOBase TextIOWrapper"
    ),
    "ipaddress": ("IPv4Address IPv4Interface IPv4Network IPv6Address IPv6Interface IPv6Network"),
    "itertools": "chain",
    "json": "JSONDecoder JSONEncoder",
    "logging": "Filter Formatter Handler LogRecord Logger LoggerAdapter StreamHandler",
    "mmap": "mmap",
    "multiprocessing": "Process",
    "numbers": "Complex Integral Number Rational Real",
    "optparse": "OptionParser Values",
    "os": "DirEntry PathLike stat_result terminal_size",
    "pathlib": "Path PosixPath PurePath PurePosixPath PureWindowsPath WindowsPath",
    "queue": "LifoQueue PriorityQueue Queue SimpleQueue",
    "random": "Random",
    "re": "Match Pattern RegexFlag",
    "selectors": "BaseSelector SelectorKey",
    "socket": "socket",
    "socketserver": "BaseRequestHandler BaseServer",
    "sqlite3": "Connection Cursor Row",
    "ssl": "SSLContext SSLSocket",
    "string": "Formatter Template",
    "struct": "Struct",
    "subprocess": "CalledProcessError CompletedProcess Popen",
    "tarfile": "TarFile TarInfo",
    "tempfile": "SpooledTemporaryFile TemporaryDirectory",
    "threading": "Condition Event Lock RLock Semaphore Thread Timer",
    "time": "struct_time",
    "tokenize": "TokenInfo",
    "traceback": "FrameSummary StackSummary TracebackException",
    "types": (
        "BuiltinFunctionType CodeType CoroutineType FrameType FunctionType GeneratorType "
        "LambdaType MappingProxyType MethodType ModuleType SimpleNamespace TracebackType"
    ),
    "unittest": "TestCase TestSuite",
    "urllib.parse": "ParseResult SplitResult",
    "uuid": "UUID",
    "warnings": "WarningMessage",
    "weakref": "WeakKeyDictionary WeakSet WeakValueDictionary ref",
    "xml.etree.ElementTree": "Element ElementTree",
    "zipfile": "ZipFile ZipInfo",
}

# Dotted names of standard-library types the writer may add an import for.
KNOWN_STDLIB: FrozenSet[str] = frozenset(
    f"{module}.{name}" for module, names in _KNOWN.items() for name in names.split()
)
