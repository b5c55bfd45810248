"""The one boundary between docgen and the shell: every error becomes one line and an exit code."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
from types import FrameType
from typing import NoReturn

import click

from docgen.cli.app import cli
from docgen.cli.context import AppState
from docgen.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    BusyError,
    DocgenError,
    OutputExistsError,
    ResumeError,
    redact,
)
from docgen.write.progress import Cancelled


def _on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def run(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code: the one error-to-exit-code boundary."""
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):  # a closed terminal or SSH session, CI
        signal.signal(signum, _on_signal)
    state = AppState()
    try:
        code = cli.main(args=argv, prog_name="docgen", standalone_mode=False, obj=state)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "docgen"
        click.echo(redact(f"docgen: error: {exc.format_message()} (see '{command} --help')"), err=True)
        return 2
    except click.ClickException as exc:
        click.echo(redact(f"docgen: error: {exc.format_message()}"), err=True)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt, Cancelled):
        hint = _kept_hint(state, argv)
        click.echo("\ndocgen: interrupted; " + hint, err=True)
        _json_error(state, "interrupted", hint, EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except DocgenError as exc:
        hint = exc.hint
        kept = state.kept_note or (state.partial and os.path.exists(state.partial))
        if kept and not isinstance(exc, ResumeError | OutputExistsError | BusyError):  # re-running would not help
            hint = (hint + "; " if hint else "") + _kept_hint(state, argv)
        click.echo(f"docgen: error: {exc.message}" + (f" ({hint})" if hint else ""), err=True)
        _json_error(state, exc.message, hint, exc.exit_code)
        return exc.exit_code
    except BrokenPipeError:  # `docgen write -o - | head`: the reader left; say nothing more, as cat does
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if os.environ.get("DOCGEN_DEBUG"):
            raise
        click.echo(
            f"docgen: internal error: {type(exc).__name__}: {redact(str(exc))} (please report it; set DOCGEN_DEBUG=1 "
            "for the traceback)",
            err=True,
        )
        return EXIT_INTERNAL


def _json_error(state: AppState, message: str, hint: str, code: int) -> None:
    """With --json, a failed run still prints one JSON object on stdout, for the script that reads it."""
    if state.json_errors:
        partial = state.partial if state.partial and os.path.exists(state.partial) else None
        record = {"error": message, "hint": hint, "exit_code": code, "partial": partial}
        click.echo(json.dumps(record, ensure_ascii=False))


def _kept_hint(state: AppState, argv: list[str] | None) -> str:
    """Where the partial text is and the command that continues it, if a run left one."""
    part = state.partial
    if state.kept_note:
        return state.kept_note
    if part is None or not os.path.exists(part):
        return "nothing was written"
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):  # the key is never printed
        if arg == "--api-key" and i + 1 < len(args):
            args[i + 1] = "KEY"
        elif arg.startswith("--api-key="):
            args[i] = "--api-key=KEY"
    if part.endswith(".sections"):
        what = "the sections written so far are"
    elif os.path.isdir(part):
        what = "the unfinished documents' partial texts are"
    else:
        what = "the partial text is"
    return redact(f"{what} kept in {part}; run the same command again to continue: docgen " + shlex.join(args))


def main() -> NoReturn:
    sys.exit(run())
