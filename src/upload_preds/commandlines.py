"""The command lines printed back to the user: "resume with:" and "retry the failures with:".

Both are the command as it was typed (``sys.argv[1:]``), rewritten: the API
key's value is always dropped (it must never be printed), a resume drops
``--no-resume``, and a retry puts the failures files in place of the inputs
and drops the options whose files belong to the first run.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def _drop_options(argv: Sequence[str], names: Sequence[str]) -> list[str]:
    """``argv`` without the options ``names`` and their values (``--x v`` and ``--x=v``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not arg.startswith(tuple(f"{n}=" for n in names)):
            out.append(arg)
    return out


def _safe_argv(argv: Sequence[str]) -> list[str]:
    """The command line without the API key's value (it must never be printed)."""
    return _drop_options(argv, ["--api-key"])


def _drop_flags(argv: Sequence[str], names: Sequence[str]) -> list[str]:
    """``argv`` without the flags ``names`` (options that take no value)."""
    return [arg for arg in argv if arg not in names]


def resume_command(argv: Sequence[str]) -> str:
    """The command that resumes this run: the same one, minus what defeats resuming.

    ``--no-resume`` would send everything again, which is what a user
    following "resume with:" does not expect; the API key is never printed.
    """
    return shlex.join(["upload-preds", *_drop_flags(_safe_argv(argv), ["--no-resume"])])


def retry_command(argv: Sequence[str], inputs: Sequence[str], failures: Sequence[str]) -> str:
    """The same command with the failures files in place of the inputs."""
    rest = _safe_argv(argv)
    for path in inputs:
        if path in rest:
            rest.remove(path)
    rest = _drop_options(rest, ["--failures", "--report", "--output-labels"])
    return shlex.join(["upload-preds", *failures, *rest])
