"""The ``localtypes`` command: a thin click shell over the core API and the runner.

Heavy modules (onnxruntime, numpy, the server) are imported inside the commands that
need them, so ``localtypes --help`` answers at once. Output goes to the streams given to
``main`` (a ``Streams`` object in click's context), never to ``sys.stdout`` by name.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, TextIO

import click

from localtypes import __version__
from localtypes.configs import load_settings
from localtypes.errors import LocaltypesError, SourceError
from localtypes.run.report import EXIT_CODES, EXIT_FAILED, EXIT_USAGE
from localtypes.settings import DEFAULT_TOP_K, MAX_TOP_K, Settings

EXIT_INTERRUPTED = 130

_ANNOTATE_EPILOG = (
    "\b\nExit codes:\n"
    + "".join(f"  {code:<5}{meaning}\n" for code, meaning in EXIT_CODES)
    + """
\b
Settings come from defaults, then [tool.localtypes] in the nearest pyproject.toml,
then LOCALTYPES_* environment variables, then these options.
"""
)


@dataclass(frozen=True)
class Streams:
    """Where the commands write: results to ``out``, messages and errors to ``err``."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)


pass_streams = click.make_pass_decorator(Streams, ensure=True)


def _print_and_exit(ctx: click.Context, text: str) -> None:
    click.echo(text, color=ctx.color, file=ctx.ensure_object(Streams).out)
    ctx.exit()


def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        _print_and_exit(ctx, ctx.get_help())


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        _print_and_exit(ctx, f"localtypes, version {__version__}")


class Command(click.Command):
    """A click command whose --help goes to the ``Streams`` of the context."""

    def get_help_option(self, ctx: click.Context) -> Optional[click.Option]:
        option = super().get_help_option(ctx)
        if option is not None:
            option.callback = _show_help
        return option


class Group(Command, click.Group):
    """A click group whose --help, and its commands', go to the ``Streams``."""

    command_class = Command


def _settings(paths: Sequence[str], overrides: Dict[str, Any]) -> Settings:
    from localtypes.run.discovery import common_folder

    return load_settings(common_folder(paths), overrides)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Type annotations for Python, predicted by a small model that runs on your machine."""


@cli.command(epilog=_ANNOTATE_EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--diff", is_flag=True, help="Print a unified diff; write nothing.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any file would change.")
@click.option(
    "--min-confidence",
    type=click.FloatRange(0.0, 1.0),
    help="Write a type only at this confidence or above [default: the model's threshold].",
)
@click.option(
    "--kinds",
    metavar="KINDS",
    help="Comma-separated slot kinds to annotate: param, return, variable [default: param,return].",
)
@click.option(
    "--target-version",
    metavar="X.Y",
    help="Oldest Python the code runs on (list[int] vs List[int], X | None vs Optional[X]) "
    "[default: each file's nearest requires-python, else 3.10 or what the file's syntax "
    "needs].",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes annotating files, one model each [default: the CPU count, fewer for "
    "small runs].",
)
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Files a folder walk takes, in .gitignore syntax (repeatable) [default: *.py, *.pyi].",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Files and folders to leave out, in .gitignore syntax (repeatable). Virtualenvs, "
    "build/, dist/, __pycache__/, hidden folders and .gitignored paths are always skipped.",
)
@click.option(
    "--model", type=click.Path(file_okay=False), help="Model store folder [env LOCALTYPES_MODEL]."
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option(
    "--verify",
    is_flag=True,
    help="Have mypy confirm the annotations against the project as it is: one that adds an "
    "error gets its next guess, or none (needs the verify extra).",
)
@click.option(
    "--report",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print one JSON document on stdout at the end, a record per annotation "
    "written (or that would be) and per slot left out, with why (docs/report.schema.json).",
)
@click.option(
    "--stubs",
    "stubs_dir",
    metavar="OUT",
    type=click.Path(file_okay=False),
    help="Write .pyi stubs with the annotations under OUT (mirroring the inputs' layout) "
    "instead of editing the sources (needs mypy: the verify extra).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also name unchanged files and settings; with --check, list each annotation "
    "that would be added.",
)
@pass_streams
def annotate(
    streams: Streams,
    paths: Sequence[str],
    diff: bool,
    check: bool,
    min_confidence: Optional[float],
    kinds: Optional[str],
    target_version: Optional[str],
    jobs: Optional[int],
    include: Sequence[str],
    exclude: Sequence[str],
    model: Optional[str],
    no_cache: bool,
    verify: bool,
    report_format: str,
    stubs_dir: Optional[str],
    quiet: bool,
    verbose: bool,
) -> int:
    """Write predicted type annotations into PATHS (files and folders), in place."""
    from localtypes.configs import Configs
    from localtypes.run.discovery import common_folder
    from localtypes.run.report import Report
    from localtypes.run.runner import run
    from localtypes.run.task import Mode

    # Each file takes its nearest pyproject.toml's settings; these flags override them all.
    configs = Configs(
        common_folder(paths),
        {
            "min_confidence": min_confidence,
            "kinds": kinds,
            "target_version": target_version,
            "jobs": jobs,
            "include": list(include) or None,
            "exclude": list(exclude) or None,
            "model": model,
            "cache": False if no_cache else None,
            "verify": True if verify else None,
        },
    )
    settings = configs.run.settings
    mode = Mode.DIFF if diff else Mode.CHECK if check else Mode.WRITE
    if report_format == "json" and diff:
        raise click.UsageError("--report json and --diff both print on stdout: choose one")
    if stubs_dir is not None:
        from localtypes.run.stubs import check_stub_folder

        if diff or check:
            raise click.UsageError("--stubs writes stubs: it goes with neither --diff nor --check")
        check_stub_folder(stubs_dir, paths)  # a usage error (exit 2) before any work
        mode = Mode.CHECK  # nothing written into the sources; the stubs are
    report_class = Report
    if report_format == "json":
        from localtypes.run.records import JsonReport

        report_class = JsonReport
    report = report_class(
        check=check,
        write=mode is Mode.WRITE,
        diff=mode is Mode.DIFF,
        verbose=verbose and not quiet,  # -q wins
        stubs=stubs_dir,
        quiet=quiet,
        stdout=streams.out,
        stderr=streams.err,
    )
    return run(
        paths, settings, mode=mode, report=report, stubs=stubs_dir, configs=configs
    ).exit_code


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(1, MAX_TOP_K),
    help=f"Ranked types per slot [default: the top-k setting, else {DEFAULT_TOP_K}].",
)
@click.option("--model", type=click.Path(file_okay=False), help="Model store folder.")
@pass_streams
def predict(streams: Streams, file: str, top_k: Optional[int], model: Optional[str]) -> int:
    """Print the model's ranked types for every slot of FILE as JSON (as POST /predict)."""
    from localtypes.api import predict as predict_source
    from localtypes.model.predictor import default_predictor
    from localtypes.run.files import read_source

    settings = _settings([file], {"model": model, "top_k": top_k})
    source = read_source(Path(file)).text
    prediction = predict_source(
        source, file, top_k=settings.top_k, predictor=default_predictor(settings.model)
    )
    click.echo(json.dumps(prediction.to_dict(), indent=2, ensure_ascii=False), file=streams.out)
    return 0


@cli.command()
@click.argument("place", metavar="FILE:LINE[:COL]")
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(1, MAX_TOP_K),
    default=5,
    show_default=True,
    help="Ranked types shown per slot.",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0.0, 1.0),
    help="As for annotate [default: the model's threshold].",
)
@click.option("--kinds", metavar="KINDS", help="As for annotate [default: param,return].")
@click.option("--target-version", metavar="X.Y", help="As for annotate.")
@click.option("--model", type=click.Path(file_okay=False), help="Model store folder.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_streams
def explain(
    streams: Streams,
    place: str,
    top_k: int,
    min_confidence: Optional[float],
    kinds: Optional[str],
    target_version: Optional[str],
    model: Optional[str],
    as_json: bool,
) -> int:
    """Explain the slot(s) at FILE:LINE (or the one at FILE:LINE:COL, 1-based): the model's
    top guesses, the evidence it read, and what annotate would write there and why."""
    from localtypes.api import explain as explain_place
    from localtypes.explain import file_evidence, parse_place
    from localtypes.model.predictor import default_predictor
    from localtypes.run.files import read_source

    try:
        file, line, column = parse_place(place)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE:LINE[:COL]") from None
    if not Path(file).is_file():
        raise click.BadParameter(f"{file!r}: no such file", param_hint="FILE:LINE[:COL]")
    settings = _settings(
        [file],
        {
            "min_confidence": min_confidence,
            "kinds": kinds,
            "target_version": target_version,
            "model": model,
        },
    )
    predictor = default_predictor(settings.model)
    info = predictor.info
    facts = file_evidence(file, settings, info.sha256, info.threshold)
    explanation = explain_place(
        read_source(Path(file)).text,
        file,
        line=line,
        column=column,
        top_k=top_k,
        settings=settings,
        predictor=predictor,
        facts=facts,
    )
    if as_json:
        text = json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False)
    else:
        text = explanation.render()
    click.echo(text, file=streams.out)
    return 0


@cli.command(name="model")
@click.option("--model", "model_dir", type=click.Path(file_okay=False), help="Model store folder.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_streams
def model_command(streams: Streams, model_dir: Optional[str], as_json: bool) -> int:
    """Say which model store is used: where, checksum, size, threshold, metrics."""
    from localtypes.model.predictor import default_predictor

    settings = _settings([], {"model": model_dir})
    info = default_predictor(settings.model).info
    if as_json:
        document = {
            "name": info.name,
            "version": info.version,
            "path": info.path,
            "sha256": info.sha256,
            "size_bytes": info.size_bytes,
            "threshold": info.threshold,
            "metrics": info.metrics,
        }
        click.echo(json.dumps(document, indent=2, sort_keys=True), file=streams.out)
        return 0
    from localtypes.model.summary import describe

    click.echo(describe(info), file=streams.out)
    return 0


@cli.command()
@click.option("--host", help=f"Address to bind [default: {Settings.host}, local only].")
@click.option("--port", type=click.IntRange(0, 65535), help=f"Port [default: {Settings.port}].")
@click.option(
    "--threads", type=click.IntRange(min=1), help=f"Worker threads [default: {Settings.threads}]."
)
@click.option("--model", type=click.Path(file_okay=False), help="Model store folder.")
@click.option("--access-log/--no-access-log", default=None, help="Log every request.")
def serve(
    host: Optional[str],
    port: Optional[int],
    threads: Optional[int],
    model: Optional[str],
    access_log: Optional[bool],
) -> int:
    """Run the HTTP service (POST /predict, POST /annotate, health probes, /metrics)."""
    from localtypes.service import serve as run_service

    settings = _settings(
        [],
        {"host": host, "port": port, "threads": threads, "model": model, "access_log": access_log},
    )
    run_service(settings)
    return 0


@cli.command()
@click.option(
    "--stdio", is_flag=True, help="Talk over stdin and stdout (the only way; editors pass it)."
)
def lsp(stdio: bool) -> int:
    """Run the language server over stdio: inlay hints and quick fixes in any LSP editor
    (needs the lsp extra)."""
    from localtypes.lsp import serve_stdio

    serve_stdio()
    return 0


def main(
    argv: Optional[List[str]] = None,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Streams are injectable so tests need no subprocess; only the console script (and
    ``python -m localtypes``) turn the code into ``sys.exit``.
    """
    args = sys.argv[1:] if argv is None else argv
    streams = Streams(
        sys.stdout if stdout is None else stdout, sys.stderr if stderr is None else stderr
    )
    try:
        result = cli.main(args=args, prog_name="localtypes", standalone_mode=False, obj=streams)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", file=streams.err)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show(file=streams.err)
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except (LocaltypesError, OSError) as exc:
        click.echo(f"Error: {exc}", file=streams.err)
        # Configuration and the model store are usage errors; a file that fails is not.
        usage = isinstance(exc, LocaltypesError) and not isinstance(exc, SourceError)
        return EXIT_USAGE if usage else EXIT_FAILED
    except Exception as exc:  # a bug: one line, and never 1 (which --check gives changes)
        click.echo(
            f"Error: internal error {type(exc).__name__}: {exc} (please report)", file=streams.err
        )
        return EXIT_FAILED
    return int(result) if isinstance(result, int) else 0
