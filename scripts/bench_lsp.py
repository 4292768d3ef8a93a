#!/usr/bin/env python3
"""Benchmark of the language server: inlay hints after a change, and its memory.

Starts ``localtypes lsp`` in a subprocess (its RSS is its own) and talks to it over stdio
with pygls's client, as an editor does: initialize (resolving hint edits lazily, as VS Code
does), open a real file of about 500 lines (default: the standard library's
``textwrap.py``), ask for its hints once (cold: the model loads), then ``--repeat`` times:
an incremental change (one character typed into a comment, so every text is new and no
cached analysis answers) immediately followed by ``textDocument/inlayHint`` over the whole
file. Reports the p50 and p95 of that round trip, of resolving one hint's edits and of the
quick fixes on parameters, the server's resident memory (now and its peak), and, for
reference, the same analysis called in this process (what the protocol and the queue add).

    python scripts/bench_lsp.py                       # textwrap.py, 50 changes
    python scripts/bench_lsp.py --file big.py --repeat 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Dict, List, TypeVar

from bench_server import percentile, rss_mb  # the same measures as the service's bench
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"
T = TypeVar("T")


async def timed(awaitable: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await awaitable
    return result, (time.perf_counter() - started) * 1000


async def bench(path: Path, repeat: int) -> Dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-lsp-"))
    try:
        module = folder / path.name
        shutil.copyfile(path, module)
        text = module.read_text("utf-8")
        return await _bench(folder, module, text, repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _bench(folder: Path, module: Path, text: str, repeat: int) -> Dict[str, Any]:
    client = LanguageClient("bench-lsp", "1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    await client.start_io(sys.executable, "-m", "localtypes", "lsp", env=env, cwd=str(folder))
    server = client._server
    assert server is not None
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            inlay_hint=types.InlayHintClientCapabilities(
                resolve_support=types.ClientInlayHintResolveOptions(properties=["textEdits"])
            )
        )
    )
    await client.initialize_async(
        types.InitializeParams(capabilities=capabilities, root_uri=folder.as_uri())
    )
    client.initialized(types.InitializedParams())
    uri = module.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
    )
    lines = text.split("\n")
    everything = types.Range(types.Position(0, 0), types.Position(len(lines), 0))
    request = types.InlayHintParams(types.TextDocumentIdentifier(uri), everything)
    hints, _ = await timed(client.text_document_inlay_hint_async(request))
    first_ms = (time.perf_counter() - started) * 1000
    hints = list(hints or [])
    # A comment line to type into: the middle of the file, so positions after it hold.
    line = next(
        (i for i in range(len(lines) // 2, len(lines)) if lines[i].strip().startswith("#")),
        len(lines) - 1,
    )
    column = len(lines[line])
    after: List[float] = []
    counts: List[int] = []
    for version in range(2, repeat + 2):
        position = types.Position(line, column)
        column += 1
        change = types.TextDocumentContentChangePartial(
            range=types.Range(position, position), text="x"
        )
        started = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri), [change]
            )
        )
        found = await client.text_document_inlay_hint_async(request)
        after.append((time.perf_counter() - started) * 1000)
        counts.append(len(found or []))
        hints = list(found or hints)
    resolve: List[float] = []
    actions: List[float] = []
    for hint in hints[:repeat]:
        _, ms = await timed(client.inlay_hint_resolve_async(hint))
        resolve.append(ms)
    params = [h for h in hints if isinstance(h.label, str) and h.label.startswith(": ")]
    for hint in params[:repeat]:
        place = types.Range(hint.position, hint.position)
        action = types.CodeActionParams(
            types.TextDocumentIdentifier(uri), place, types.CodeActionContext(diagnostics=[])
        )
        _, ms = await timed(client.text_document_code_action_async(action))
        actions.append(ms)
    now, peak = rss_mb(server.pid), rss_mb(server.pid, "VmHWM")
    await client.shutdown_async(None)
    client.exit(None)
    await server.wait()
    await client.stop()
    return {
        "file": module.name,
        "lines": len(lines),
        "hints": counts[-1] if counts else len(hints),
        "first_hints_ms": first_ms,
        "after_change": after,
        "resolve": resolve,
        "code_action": actions,
        "rss_mb": now,
        "peak_rss_mb": peak,
        "exit_code": server.returncode,
    }


def in_process(path: Path, repeat: int) -> List[float]:
    """``analyse`` alone on the same edits, in this process: what the protocol adds."""
    sys.path.insert(0, str(ROOT))
    from localtypes.lsp.analysis import analyse
    from localtypes.lsp.config import document_settings
    from localtypes.model.predictor import default_predictor

    text = path.read_text("utf-8")
    settings, _ = document_settings(None, None, {})
    predictor = default_predictor(settings.model)
    analyse(text, None, settings, predictor)  # warm-up
    samples = []
    for index in range(repeat):
        started = time.perf_counter()
        analyse(text + "#" * (index + 1), None, settings, predictor)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(bench(args.file, args.repeat))
    result["analyse_in_process"] = in_process(args.file, args.repeat)
    print(
        f"{result['file']}: {result['lines']} lines, {result['hints']} hints; "
        f"start to first hints (model load included): {result['first_hints_ms']:.0f} ms"
    )
    print(f"{'request':<34} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, key in (
        ("inlay hints after a change", "after_change"),
        ("inlayHint/resolve (one hint)", "resolve"),
        ("codeAction on a parameter", "code_action"),
        ("analyse() in process (reference)", "analyse_in_process"),
    ):
        samples = result[key]
        if samples:
            print(
                f"{name:<34} {len(samples):>4} {statistics.median(samples):>8.1f} "
                f"{percentile(samples, 95):>8.1f} {max(samples):>8.1f}"
            )
    print(
        f"server RSS: {result['rss_mb']:.0f} MiB now, {result['peak_rss_mb']:.0f} MiB peak; "
        f"exit code {result['exit_code']}"
    )


if __name__ == "__main__":
    main()
