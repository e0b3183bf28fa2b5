"""The click machinery every ``libtrad`` command group uses (the groups themselves live with their packages).

* :class:`Group` / :class:`Command` — every failure is one ``error: ...`` line on stderr, never a traceback;
  a library error about a parameter names the flag the user typed;
* :func:`number`, :func:`seed_type` — numeric option types that refuse NaN, ±inf and out-of-range values by name;
* :func:`comma_list` — a ``--configs a,b`` style option;
* :func:`device_option` — ``--device auto|cpu|cuda|cuda:N`` (:mod:`libtrad.core.devices`).

The option helpers that wrap another room's code live with it: ``PATH_OR_URL`` and the publish
options in :mod:`libtrad.folders.cli`, ``--connect-timeout`` in :mod:`libtrad.ray_jobs.cluster`.
Light by design: click and the core room only; every heavy import stays inside a command.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from libtrad.core.devices import parse_device
from libtrad.core.errors import LibtradError, ParameterError, exception_reason, first_line, one_line
from libtrad.core.options import SEED_MAX, check_number

DEBUG_ENV = "LIBTRAD_DEBUG"


class Command(click.Command):
    """A command whose library errors about a parameter name the flag the user typed."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ParameterError as exc:
            raise LibtradError(exc.for_flag(flag_of(self, exc.param))) from None


def flag_of(command: click.Command, param: str) -> str:
    """``train_fraction`` -> ``--train-fraction``; an argument keeps its metavar (``OUT``)."""
    for p in command.params:
        if p.name == param:
            return p.opts[0] if isinstance(p, click.Option) else p.human_readable_name
    return param


class Group(click.Group):
    """The top-level group: every failure is one ``error: ...`` line on stderr, never a traceback.

    User mistakes (:class:`LibtradError`, bad options, OS errors such as a full or read-only disk)
    exit with status 2; an unexpected exception is reported as an internal error (status 1)
    whose traceback ``--debug`` or ``LIBTRAD_DEBUG=1`` shows.
    """

    command_class = Command
    group_class = type  # sub-groups are Group too, so their commands are Command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv[
            : next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
        ] or os.environ.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, click.exceptions.Abort):
            fail("interrupted", 130)
        except click.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) is not None else ""
            fail(exc.format_message() + (hint if isinstance(exc, click.UsageError) else ""), 2)
        except LibtradError as exc:
            fail(str(exc), 2, at_once=getattr(exc, "ends_process", False))
        except Exception as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback by default
            if debug:
                raise
            message, code = describe_unexpected(exc, batch_size=takes_option(self, argv, "--batch-size"))
            fail(message, code)
        sys.exit(code if isinstance(code, int) else 0)


# A command or group defined in a package's cli module (not through ``main.command()``) gets the same classes.
command = functools.partial(click.command, cls=Command)
group = functools.partial(click.group, cls=Group)


def takes_option(group: click.Group, argv: list[str], option: str) -> bool:
    """Whether the command ``argv`` names (its sub-command path followed through the groups) has ``option``."""
    command = group
    for token in argv:
        if not isinstance(command, click.Group) or token.startswith("-"):
            continue
        if token not in command.commands:
            break
        command = command.commands[token]
    return not isinstance(command, click.Group) and any(option in p.opts for p in command.params)


def describe_unexpected(exc: BaseException, *, batch_size: bool = True) -> tuple[str, int]:
    """One line (and exit status) for an exception no library function mapped itself; ``batch_size``:
    whether the command takes ``--batch-size`` (the advice for running out of memory names it only then)."""
    if isinstance(exc, OSError):
        where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
        return f"{where + ': ' if where else ''}{exception_reason(exc)}", 2
    if isinstance(exc, UnicodeError):
        return f"text that is not valid UTF-8 ({first_line(exc)})", 2
    if isinstance(exc, MemoryError):
        advice = "try a smaller --batch-size or fewer files at once" if batch_size else "try fewer files at once"
        return f"out of memory ({advice})", 2
    return (
        f"internal error in libtrad ({type(exc).__name__}: {first_line(exc)}); run again with --debug "
        f"(or {DEBUG_ENV}=1) for the traceback and report it"
    ), 1


def fail(message: str, code: int, *, at_once: bool = False) -> None:
    """Print ``error: message`` as one printable line (file names that are not UTF-8 are escaped).

    ``at_once``: end the process right after the line (``os._exit``), for an error whose cause leaves
    the interpreter unable to end normally (a Ray session whose raylet died crashes in its teardown)."""
    click.echo(f"error: {one_line(message)}", err=True)
    if at_once:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def number(option: str, *, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A click type for a numeric option: NaN, ±inf and out-of-range values are refused by name."""

    class _Number(click.ParamType):
        name = "integer" if integer else "number"

        def convert(self, value, param, ctx):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                number = value
            else:
                try:
                    number = int(value) if integer else float(value)
                except (TypeError, ValueError):
                    raise LibtradError(f"{option} {value!r}: not {'an integer' if integer else 'a number'}") from None
            try:
                return check_number(
                    option, number, low=low, high=high, low_open=low_open, high_open=high_open, integer=integer
                )
            except ParameterError as exc:
                raise LibtradError(exc.for_flag(option)) from None

    return _Number()


def seed_type(option: str = "--seed"):
    """A seed option's type; ``option`` is the flag it belongs to, which its errors name (``--split-seed``)."""
    return number(option, low=0, high=SEED_MAX, integer=True)


def comma_list(option: str, text: str | None) -> tuple[str, ...] | None:
    """``--configs a,b``: None when not given; an empty item (``","``, ``"a,"``) is an error, never "all"."""
    if text is None:
        return None
    names = tuple(c.strip() for c in text.split(","))
    if any(not n for n in names):
        raise LibtradError(f"{option} {text!r}: expected a comma-separated list of names with none empty")
    return names


def device_option(command):
    """``--device auto|cpu|cuda|cuda:N`` (default auto), checked by :func:`libtrad.core.devices.parse_device`;
    the command receives the text (availability is checked where the work runs)."""

    def check(ctx, param, value):
        try:
            return parse_device(value).text
        except ParameterError as exc:
            raise LibtradError(exc.for_flag("--device")) from None

    return click.option(
        "--device",
        default="auto",
        show_default=True,
        callback=check,
        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N.",
    )(command)
