"""``python -m libtrad.hear SPEC [--device D]``: the HEAR API self-check (:mod:`libtrad.hear.check`) of
libtrad's HEAR module on the encoder SPEC names. Exit 0: every check passed (warnings allowed);
1: a check failed; 2: a spec, device or usage libtrad refuses, or a user's module (``py:``, ``hear:``,
checked in a process of its own) that fails, hangs or ends its process (one ``error:`` line)."""

from __future__ import annotations

import sys

import click

from libtrad.core.cli_kit import describe_unexpected, device_option, fail
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec, runs_user_code
from libtrad.ray_jobs.embedding.encoders.sandbox import run_isolated

PROG = "python -m libtrad.hear"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("spec", metavar="SPEC")
@device_option
def hear_check_command(spec: str, device: str) -> int:
    """Check that libtrad.hear keeps the HEAR 2021 API on the encoder SPEC (what `--encoder` takes).

    A spec that runs a user's code (py:, hear:) is checked in a process of its own, as check-encoder does:
    a module that calls os._exit or crashes is one error line, not a check that ended with status 0."""
    from libtrad.hear.check import format_report, self_check

    try:
        isolated = runs_user_code(parse_encoder_spec(spec))
    except LibtradError:  # a spec libtrad refuses: self_check names it as load_model's model_file_path
        isolated = False
    if isolated:
        checks = run_isolated("libtrad.hear.check:self_check", spec, device=device, text=spec)
    else:
        checks = self_check(spec, device=device)
    click.echo(format_report(checks))
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def main(argv=None) -> None:
    """Run the check with libtrad's CLI rules: one ``error:`` line for a user's mistake, no traceback."""
    try:
        code = hear_check_command.main(
            list(sys.argv[1:] if argv is None else argv), prog_name=PROG, standalone_mode=False
        )
    except click.exceptions.Abort:
        fail("interrupted", 130)
    except click.ClickException as exc:
        fail(exc.format_message() + (f" (see '{PROG} --help')" if isinstance(exc, click.UsageError) else ""), 2)
    except ParameterError as exc:
        fail(
            exc.for_flag("SPEC" if exc.param in ("model_file_path", "encoder") else "--" + exc.param.replace("_", "-")),
            2,
        )
    except LibtradError as exc:
        fail(str(exc), 2)
    except Exception as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback
        message, status = describe_unexpected(exc)
        fail(message, status)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
