"""The click machinery every ``libtrad`` command group uses (the groups themselves live with their packages).

* :class:`Group` / :class:`Command` — every failure is one ``error: ...`` line on stderr, never a traceback;
  a library error about a parameter names the flag the user typed;
* :func:`number`, :func:`seed_type` — numeric option types that refuse NaN, ±inf and out-of-range values by name;
* :func:`comma_list` — a ``--configs a,b`` style option;
* :func:`connect_timeout_option` — ``--connect-timeout`` beside every ``--address``;
* :func:`device_option` — ``--device auto|cpu|cuda|cuda:N`` (:mod:`libtrad.core.devices`);
* :func:`publish_options`, :func:`publish` — what every ``publish`` command takes, and the one publish path;
* :data:`PATH_OR_URL` — an input folder's type: a path, or an fsspec URL (``s3://…``) left as text.

Light by design: click and :mod:`libtrad.core.errors` only; every heavy import stays inside a command.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from libtrad.core.errors import LibtradError, ParameterError, exception_reason, first_line

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
        debug = "--debug" in argv[: next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))] \
            or os.environ.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, click.exceptions.Abort):
            fail("interrupted", 130)
        except click.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) is not None else ""
            fail(exc.format_message() + (hint if isinstance(exc, click.UsageError) else ""), 2)
        except LibtradError as exc:
            fail(str(exc), 2)
        except Exception as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback by default
            if debug:
                raise
            message, code = describe_unexpected(exc)
            fail(message, code)
        sys.exit(code if isinstance(code, int) else 0)


# A command or group defined in a package's cli module (not through ``main.command()``) gets the same classes.
command = functools.partial(click.command, cls=Command)
group = functools.partial(click.group, cls=Group)


def describe_unexpected(exc: BaseException) -> tuple[str, int]:
    """One line (and exit status) for an exception no library function mapped itself."""
    if isinstance(exc, OSError):
        where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
        return f"{where + ': ' if where else ''}{exception_reason(exc)}", 2
    if isinstance(exc, UnicodeError):
        return f"text that is not valid UTF-8 ({first_line(exc)})", 2
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size or fewer files at once)", 2
    return (f"internal error in libtrad ({type(exc).__name__}: {first_line(exc)}); run again with --debug "
            f"(or {DEBUG_ENV}=1) for the traceback and report it"), 1


def fail(message: str, code: int) -> None:
    """Print ``error: message`` as one printable line (file names that are not UTF-8 are escaped)."""
    text = " ".join(str(message).split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


def number(option: str, *, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A click type for a numeric option: NaN, ±inf and out-of-range values are refused by name."""
    from libtrad.core.options import check_number

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
                return check_number(option, number, low=low, high=high, low_open=low_open, high_open=high_open,
                                    integer=integer)
            except ParameterError as exc:
                raise LibtradError(exc.for_flag(option)) from None

    return _Number()


class PathOrURL(click.ParamType):
    """An input folder: a local path (a ``Path``) or an fsspec URL kept as text (``s3://b/x``: a ``Path``
    would fold its ``//``); the commands fetch a URL's folder through :mod:`libtrad.remote_folders`."""

    name = "path"

    def convert(self, value, param, ctx):
        from libtrad.storage import is_url

        return value if isinstance(value, Path) or is_url(value) else Path(value)


PATH_OR_URL = PathOrURL()


def seed_type(option: str = "--seed"):
    """A seed option's type; ``option`` is the flag it belongs to, which its errors name (``--split-seed``)."""
    from libtrad.core.options import SEED_MAX

    return number(option, low=0, high=SEED_MAX, integer=True)


def comma_list(option: str, text: str | None) -> tuple[str, ...] | None:
    """``--configs a,b``: None when not given; an empty item (``","``, ``"a,"``) is an error, never "all"."""
    if text is None:
        return None
    names = tuple(c.strip() for c in text.split(","))
    if any(not n for n in names):
        raise LibtradError(f"{option} {text!r}: expected a comma-separated list of names with none empty")
    return names


def connect_timeout_option(command):
    """``--connect-timeout SECONDS`` for a command that takes ``--address``: how long attaching may take.

    The value never reaches the command's function: the call runs inside
    :func:`libtrad.ray_jobs.cluster.connect_timeout`, which every ``ray_session`` reads, so no job
    needs a new parameter. Apply it beside the ``--address`` option.
    """

    @functools.wraps(command)
    def run(*args, connect_timeout, **kwargs):
        from libtrad.ray_jobs.cluster import connect_timeout as within

        with within(connect_timeout):
            return command(*args, **kwargs)

    return click.option("--connect-timeout", "connect_timeout", default=30.0, show_default=True,
                        type=number("--connect-timeout", low=0, high=86400, low_open=True),
                        help="With --address: give up attaching after this many seconds (one error line "
                             "naming the address).")(run)


def device_option(command):
    """``--device auto|cpu|cuda|cuda:N`` (default auto), checked by :func:`libtrad.core.devices.parse_device`;
    the command receives the text (availability is checked where the work runs)."""

    def check(ctx, param, value):
        from libtrad.core.devices import parse_device

        try:
            return parse_device(value).text
        except ParameterError as exc:
            raise LibtradError(exc.for_flag("--device")) from None

    return click.option("--device", default="auto", show_default=True, callback=check,
                        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N.")(command)


def publish_options(command):
    """The arguments every ``publish`` command takes."""
    command = click.option("--dry-run", is_flag=True, help="List exactly what would be sent; send nothing.")(command)
    command = click.option("--private", is_flag=True, help="Create the repo as private.")(command)
    command = click.option("--repo-id", required=True, help="Target Hub repo, ORG/NAME.")(command)
    return click.argument("folder", type=PATH_OR_URL)(command)


def publish(folder: Path, repo_id: str, repo_type: str, private: bool, dry_run: bool, required: tuple) -> None:
    """The one publish path: plan (validate + list), then print the plan or upload it."""
    from libtrad.publish import plan_upload, publish_folder

    plan = plan_upload(folder, repo_id, repo_type, private, required=required)
    if dry_run:
        click.echo(plan.describe())
        return
    url = publish_folder(plan, folder, commit_message=f"Upload {repo_type} with libtrad")
    click.echo(f"published {len(plan.files)} files to {url}")
