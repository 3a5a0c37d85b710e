"""Run a Pulumi program directory the way the Python language host does, against the mock engine.

    PULUMI_CONFIG='{"acpw:istioVersion": "1.30", "aws:region": "ap-northeast-1"}' \\
        python -m tests.langhost --project acpw --stack dev .

What the CLI's Python language host (``pulumi-language-python-exec`` in pulumi/pulumi
``sdk/python/cmd``, read at commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8) does, and this
harness does too:

* the config comes from the environment (``PULUMI_CONFIG``, JSON of strings, and
  ``PULUMI_CONFIG_SECRET_KEYS``) through ``pulumi.runtime.get_config_env`` and is set with
  ``set_all_config``;
* the program path (a directory: its ``__main__.py``) is run with ``runpy.run_path(...,
  run_name="__main__")`` on a new event loop, and the process waits for its RPCs;
* a ``pulumi.RunError`` is reported with ``pulumi.log.error(str(e))`` only (no traceback), exit 1;
* any other exception as ``Program failed with an unhandled exception:`` and the traceback, exit 32
  ("an error message was displayed to the user").

Only the resource monitor differs: the mock engine of ``tools/mock_engine.py`` instead of the CLI's.
Engine log messages go to stderr as the CLI prints diagnostics: ``error: <message>``,
``warning: <message>``. ``--report FILE`` writes the outcome as JSON (exit code, exception type)
for tests.
"""

from __future__ import annotations

import argparse
import json
import logging
import runpy
import sys
import traceback
from pathlib import Path

import pulumi
import pulumi.runtime

from tools import mock_engine, pulumi_sdk

USER_ACTIONABLE_EXIT = 32


class _DiagnosticsFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _engine_logger() -> logging.Logger:
    logger = logging.getLogger("acpw.langhost")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_DiagnosticsFormatter())
    logger.handlers[:] = [handler]
    return logger


def run(
    program: Path, project: str, stack: str, *, preview: bool = False
) -> tuple[int, str | None]:
    """Run ``program`` as the language host would; returns (exit code, exception type or None)."""
    pulumi.runtime.set_all_config(
        pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env()
    )
    mock_engine.install(project, stack, None, preview=preview, logger=_engine_logger())
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # as the language host does
    exit_code, failure = 1, None
    try:
        pulumi_sdk.run_program(lambda: runpy.run_path(str(program), run_name="__main__"))
        exit_code = 0
    except pulumi.RunError as error:
        failure = f"{type(error).__module__}.{type(error).__qualname__}"
        pulumi.log.error(str(error))
    except Exception as error:
        failure = f"{type(error).__module__}.{type(error).__qualname__}"
        pulumi.log.error("Program failed with an unhandled exception:\n" + traceback.format_exc())
        exit_code = USER_ACTIONABLE_EXIT
    finally:
        mock_engine.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    return exit_code, failure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--preview", action="store_true", help="run as `pulumi preview`")
    parser.add_argument("--report", type=Path, help="write the outcome here as JSON")
    parser.add_argument("program", type=Path, help="the program directory (or file)")
    args = parser.parse_args(argv)
    exit_code, failure = run(args.program, args.project, args.stack, preview=args.preview)
    if args.report:
        args.report.write_text(json.dumps({"exit_code": exit_code, "exception": failure}))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
