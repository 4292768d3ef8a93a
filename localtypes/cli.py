"""The ``localtypes`` command: a thin click shell over the core API.

Heavy modules (onnxruntime, libcst, the server) are imported inside the commands that
need them, so ``localtypes --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence

import click

from localtypes import __version__
from localtypes.errors import LocaltypesError, SourceError
from localtypes.run.report import EXIT_FAILED, EXIT_USAGE
from localtypes.settings import Settings, load_settings

EXIT_INTERRUPTED = 130

_ANNOTATE_EPILOG = """\b
Exit codes:
  0    done, or nothing to do
  1    --check: some files would change
  2    usage error (bad option, configuration or model store)
  123  some files could not be processed (each is named with its reason)

\b
Settings come from defaults, then [tool.localtypes] in the nearest pyproject.toml,
then LOCALTYPES_* environment variables, then these options.
"""


def _settings(paths: Sequence[str], overrides: Dict[str, Any]) -> Settings:
    from localtypes.run.discovery import common_folder

    return load_settings(common_folder(paths), overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="localtypes")
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
    "[default: from requires-python, else this Python].",
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
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Also name unchanged files and settings.")
def annotate(
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
    quiet: bool,
    verbose: bool,
) -> int:
    """Write predicted type annotations into PATHS (files and folders), in place."""
    from localtypes.run.runner import Mode, run

    settings = _settings(
        paths,
        {
            "min_confidence": min_confidence,
            "kinds": kinds,
            "target_version": target_version,
            "jobs": jobs,
            "include": list(include) or None,
            "exclude": list(exclude) or None,
            "model": model,
            "cache": False if no_cache else None,
        },
    )
    mode = Mode.DIFF if diff else Mode.CHECK if check else Mode.WRITE
    verbose = verbose and not quiet  # -q wins
    report = run(paths, settings, mode=mode, check=check, quiet=quiet, verbose=verbose)
    return report.exit_code


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-k", "--top-k", type=click.IntRange(1, 20), default=5, show_default=True)
@click.option("--model", type=click.Path(file_okay=False), help="Model store folder.")
def predict(file: str, top_k: int, model: Optional[str]) -> int:
    """Print the model's ranked types for every slot of FILE as JSON (as POST /predict)."""
    from localtypes.api import predict as predict_source
    from localtypes.model.predictor import default_predictor
    from localtypes.run.files import read_source

    settings = _settings([file], {"model": model})
    source = read_source(Path(file)).text
    prediction = predict_source(
        source, file, top_k=top_k, predictor=default_predictor(settings.model)
    )
    click.echo(json.dumps(prediction.to_dict(), indent=2, ensure_ascii=False))
    return 0


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    return f"{size} B"  # pragma: no cover


@cli.command(name="model")
@click.option("--model", "model_dir", type=click.Path(file_okay=False), help="Model store folder.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def model_command(model_dir: Optional[str], as_json: bool) -> int:
    """Say which model store is used: where, checksum, size, threshold, metrics."""
    from localtypes.model.predictor import default_predictor

    settings = _settings([], {"model": model_dir})
    info = default_predictor(settings.model).info
    document = {
        "name": info.name,
        "version": info.version,
        "path": info.path,
        "sha256": info.sha256,
        "size_bytes": info.size_bytes,
        "threshold": info.threshold,
        "metrics": info.metrics,
    }
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return 0
    click.echo(f"model:     {info.name} {info.version}")
    click.echo(f"path:      {info.path}")
    click.echo(f"sha256:    {info.sha256}")
    click.echo(f"size:      {_size(info.size_bytes)}")
    click.echo(f"threshold: {info.threshold:g} (default --min-confidence)")
    if info.metrics:
        click.echo("metrics (held-out packages):")
        for key, value in sorted(info.metrics.items()):
            shown = f"{value:.4g}" if isinstance(value, float) else json.dumps(value)
            click.echo(f"  {key}: {shown}")
    return 0


@cli.command()
@click.option("--host", help="Address to bind [default: 127.0.0.1, local only].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [default: 8000].")
@click.option("--threads", type=click.IntRange(min=1), help="Worker threads [default: 4].")
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
    from localtypes.service import app as server

    settings = _settings(
        [],
        {"host": host, "port": port, "threads": threads, "model": model, "access_log": access_log},
    )
    server.serve(settings)
    return 0


def main(
    argv: Optional[List[str]] = None,
    stdout: Optional[IO[str]] = None,
    stderr: Optional[IO[str]] = None,
) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Streams are injectable so tests need no subprocess; only the console script (and
    ``python -m localtypes``) turn the code into ``sys.exit``.
    """
    args = sys.argv[1:] if argv is None else argv
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = cli.main(args=args, prog_name="localtypes", standalone_mode=False)
        except click.exceptions.Exit as exc:  # --help, --version
            return int(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            return EXIT_INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code if exc.exit_code else EXIT_USAGE
        except SourceError as exc:
            click.echo(f"Error: {exc}", err=True)
            return EXIT_FAILED
        except LocaltypesError as exc:  # configuration, model store
            click.echo(f"Error: {exc}", err=True)
            return EXIT_USAGE
        except OSError as exc:
            click.echo(f"Error: {exc}", err=True)
            return EXIT_FAILED
    return int(result) if isinstance(result, int) else 0
