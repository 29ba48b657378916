"""Client token files, read as the C client reads them (``fc_token_read``).

The first line that is not blank and does not start with ``#`` holds the
token, alone (``TOKEN``) or as ``ROLE TOKEN`` (a line copied from the
server's ``auth_tokens_file``, ROLE being ``read``, ``write`` or ``admin``).
White space around it is dropped. Errors never quote the file's text.
"""

from __future__ import annotations

import os
from typing import Union

from .errors import TokenFileError

__all__ = ["read_token_file", "ROLES"]

ROLES = ("read", "write", "admin")


def read_token_file(path: Union[str, os.PathLike]) -> str:
    """The token in a client token file; :class:`TokenFileError` otherwise."""
    try:
        with open(path, "r", encoding="utf-8", errors="strict") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise TokenFileError(f"token file {os.fspath(path)}: {reason}") from None
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) == 1:
            return fields[0]
        if len(fields) == 2 and fields[0] in ROLES:
            return fields[1]
        raise TokenFileError(
            f"token file {os.fspath(path)}:{lineno}: expected TOKEN or 'ROLE TOKEN'"
        )
    raise TokenFileError(f"token file {os.fspath(path)}: no token in it")
