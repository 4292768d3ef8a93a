"""A ``.pyi`` stub from annotated source, by mypy's ``stubgen``.

``localtypes annotate --stubs OUT`` annotates each file in memory, exactly as it would in
place, and hands the annotated text to stubgen, which keeps every annotation and the
imports they use and drops bodies and values. Writing our own stub printer would mean
re-deciding what a stub keeps (``__all__``, overloads, properties, dataclass fields,
``TypeVar``s, conditional definitions); stubgen is what typeshed's contributors use. The
price is that ``--stubs`` needs mypy (the ``verify`` extra): without it the command says
so and exits 2 before any work (``StubsUnavailable``).

Stubgen runs in its parse-only mode: it reads the text, never imports the code, and needs
no other module of the project.
"""

from __future__ import annotations

from typing import Tuple

from localtypes.errors import LocaltypesError


class StubsUnavailable(LocaltypesError):
    """``--stubs`` was asked for and mypy (which provides stubgen) is not installed."""


def require_stubgen() -> None:
    """Raise ``StubsUnavailable`` unless mypy's stubgen can be imported."""
    try:
        import mypy.stubgen  # noqa: F401
    except ImportError:
        raise StubsUnavailable(
            "--stubs needs mypy's stubgen: pip install 'localtypes[verify]' (or mypy)"
        ) from None


def stub_text(source: str, module: str, target_version: Tuple[int, int]) -> str:
    """The stub of the module ``source`` (named ``module``, dotted) for ``target_version``.

    Private names are kept: the stub says everything the annotations say. Raises
    ``SourceError`` when stubgen's parser refuses the text.
    """
    import mypy.parse
    import mypy.stubgen as stubgen
    from mypy.errors import Errors

    from localtypes.errors import SourceError

    options = stubgen.Options(
        pyversion=target_version,
        no_import=True,
        inspect=False,
        doc_dir="",
        search_path=[],
        interpreter="",
        parse_only=True,
        ignore_errors=True,
        include_private=True,
        output_dir="",
        modules=[],
        packages=[],
        files=[],
        verbose=False,
        quiet=True,
        export_less=False,
        include_docstrings=False,
    )
    mypy_options = stubgen.mypy_options(options)
    errors = Errors(mypy_options)
    # Parsed here rather than by stubgen.parse_source_file, which exits the process on an
    # error and reads the file from disk.
    tree = mypy.parse.parse(
        source, fnam=f"{module}.py", module=module, errors=errors, options=mypy_options, eager=True
    )
    if errors.is_blockers():
        messages = "; ".join(str(message) for message in errors.new_messages()[:3])
        raise SourceError(f"stubgen cannot parse the annotated text: {messages}")
    tree._fullname = module
    generator = stubgen.ASTStubGenerator(
        None, include_private=True, analyzed=False, export_less=False, include_docstrings=False
    )
    tree.accept(generator)
    return str(generator.output())
