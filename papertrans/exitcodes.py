"""The exit codes of every ``papertrans`` subcommand: one table, stable, so that scripts may rely on them.

====  ===================================================================================================
0     success
1     usage or input error: bad arguments, a missing/unreadable/invalid input file (not a PDF, bad glossary,
      config, training data or adapter folder), a request the server rejected with 4xx
2     unavailable, try again later: server unreachable, timeout, 502/503/504; another refresh holds the lock
3     the work failed: a job failed on the server (or another 5xx), training or publishing failed, the
      engine died under ``serve``
4     finished, but not good enough: segments fell back to the source text under ``--strict``; the gate did
      not promote the candidate
130   interrupted (Ctrl-C); a ``translate`` job keeps running on the server: run the same command to resume
====  ===================================================================================================

Standard library only: the client-only install uses it too.
"""

from __future__ import annotations

__all__ = ["FAILED", "HELP", "INCOMPLETE", "INTERRUPTED", "OK", "UNAVAILABLE", "USAGE", "for_http_status"]

OK = 0
USAGE = 1
UNAVAILABLE = 2
FAILED = 3
INCOMPLETE = 4
INTERRUPTED = 130

#: The table as a command's ``--help`` epilog shows it.
HELP = """exit codes:
  0 ok · 1 usage/input error (or request rejected) · 2 unavailable, retry later · 3 failed
  4 finished but not good enough (fallbacks under --strict, gate refused) · 130 interrupted (rerun to resume)"""


def for_http_status(status: int) -> int:
    """The exit code for a server's error answer: 502/503/504 unavailable, other 5xx failed, 4xx usage/input."""
    if status in (502, 503, 504):
        return UNAVAILABLE
    return FAILED if status >= 500 else USAGE
