"""Helpers shared by the Python interop scripts: reading their inputs,
reporting, and running them.

Every script reads the backend-contract variables the mocks write
(PUSHPROOF_*) plus a few INTEROP_* inputs from tests/interop_python.rs,
drives one library, and prints exactly one JSON line on stdout:
  {"library": NAME, "version": VERSION, "cases": {CASE: OUTCOME, ...}}
where each OUTCOME says what the library itself reported (its result or its
error's type and fields), never what the wire carried.

The libraries trust the mocks' CA the way users point them at any private
CA, through the environment the test sets: SSL_CERT_FILE for Python's ssl
module (aioapns, urllib) and REQUESTS_CA_BUNDLE for requests (firebase-admin
and google-auth). Verification stays on.
"""

import asyncio
import inspect
import json
import os
import sys
import traceback
from importlib import metadata


def env(name):
    """A required environment variable."""
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set (tests/interop_python.rs sets it)")
    return value


def error_outcome(error, **fields):
    """A failure as the library raised it: its exception type and message,
    plus the library-specific `fields`."""
    return {
        "ok": False,
        "errorType": type(error).__name__,
        "message": str(error),
        **fields,
    }


def report(library, cases):
    """Prints the report line for `library` (its PyPI name)."""
    line = json.dumps(
        {"library": library, "version": metadata.version(library), "cases": cases}
    )
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(main):
    """Runs `main` (a function or a coroutine function); an unexpected
    failure prints its traceback and exits non-zero, which fails the test
    with that output."""
    try:
        result = main()
        if inspect.isawaitable(result):
            asyncio.run(result)
    except Exception:  # noqa: BLE001 - anything unexpected fails the test
        traceback.print_exc()
        sys.exit(1)
