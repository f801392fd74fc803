"""Reading a LaTeX project: comment stripping and ``\\input``/``\\include`` expansion (relative, cycle-safe)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

__all__ = ["TexSource", "read_project", "strip_comments"]

# Environments whose bodies are taken literally by TeX (no comments, no \input inside).
VERBATIM_ENVS = ("verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "alltt", "comment")
_BEGIN_VERB = re.compile(r"\\begin\{(" + "|".join(re.escape(e) for e in VERBATIM_ENVS) + r")\}")
_INPUT = re.compile(r"\\(input|include|subfile)\s*\{([^{}]+)\}|\\input\s+([^\s{}\\%]+)")


@dataclass
class TexSource:
    """The expanded, comment-free text of a project and the files it was read from."""

    text: str
    root: Path
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _strip_line(line: str) -> tuple[str, bool]:
    """Cut a line at its first comment ``%`` (not ``\\%``); returns (kept part, had_comment)."""
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            if line.startswith("\\verb", i) and i + 5 < n and not line[i + 5].isalpha():
                delim_at = i + 5 + (1 if line[i + 5] == "*" else 0)
                if delim_at < n:
                    end = line.find(line[delim_at], delim_at + 1)
                    if end != -1:
                        i = end + 1
                        continue
            i += 2  # a control symbol such as \% or \\ is one unit
            continue
        if ch == "%":
            return line[:i], True
        i += 1
    return line, False


def strip_comments(text: str) -> str:
    """Remove TeX comments: ``%`` to the end of the line, except ``\\%`` and inside verbatim-like environments.

    A line that only holds a comment disappears with its newline (so it neither joins nor splits paragraphs), as in
    TeX; ``comment`` environments disappear entirely.
    """
    out: list[str] = []
    pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        stop = len(text) if newline == -1 else newline + 1
        line = text[pos:stop]
        code, had_comment = _strip_line(line)
        match = _BEGIN_VERB.search(code)
        if match:
            # Everything from \begin to \end is kept byte for byte (dropped for the comment environment).
            env = match.group(1)
            start = pos + match.start()
            end = text.find(f"\\end{{{env}}}", start + len(match.group(0)))
            block_end = len(text) if end == -1 else end + len(env) + 6
            out.append(text[pos:start])
            if env != "comment":
                out.append(text[start:block_end])
            pos = block_end  # the rest of that line is read as ordinary text
            continue
        if had_comment:
            if code.strip() != "":
                out.append(code + ("\n" if line.endswith("\n") else ""))
        else:
            out.append(line)
        pos = stop
    return "".join(out)


def _resolve(name: str, current: Path, root: Path) -> Path | None:
    name = name.strip()
    candidates: list[Path] = []
    for base in (root, current.parent):
        candidates.append(base / name)
        if not name.endswith(".tex"):
            candidates.append(base / f"{name}.tex")
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")


def read_project(main: Path) -> TexSource:
    """Read ``main`` and every file it inputs (paths relative to the main file's folder, then to the including file;
    with or without ``.tex``). A file that includes itself again (a cycle) is skipped with a warning; a missing
    included file is skipped with a warning; a missing or unreadable main file raises ``InputError``."""
    if not main.is_file():
        raise InputError(f"{main}: no such file")
    root = main.resolve().parent
    source = TexSource(text="", root=root)

    def expand(path: Path, stack: tuple[Path, ...]) -> str:
        source.files.append(path)
        text = strip_comments(_read(path))

        def replace(match: re.Match[str]) -> str:
            name = match.group(2) or match.group(3) or ""
            target = _resolve(name, path, root)
            if target is None:
                source.warnings.append(f"{path.name}: included file {name!r} not found; skipped")
                return ""
            if target in stack:
                source.warnings.append(f"{path.name}: {name!r} includes itself (a cycle); skipped")
                return ""
            body = expand(target, (*stack, target))
            # \include starts a new page: keep it a separate block.
            return f"\n\n{body}\n\n" if match.group(1) == "include" else body

        return _INPUT.sub(replace, text)

    resolved = main.resolve()
    try:
        source.text = expand(resolved, (resolved,))
    except OSError as exc:
        raise InputError(f"{main}: cannot read ({exc})") from exc
    return source
