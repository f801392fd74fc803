"""arXiv e-prints: the LaTeX project of a paper as an archive (``.tar.gz``/``.tgz``/``.tar``/``.zip``, or arXiv's
single gzipped ``.tex``), or fetched by ``arxiv:ID`` when the network allows. The source beats the PDF: its formulas
come back as the exact LaTeX the authors wrote.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

from ..errors import InputError

__all__ = ["ARXIV_ID", "EPRINT_SUFFIXES", "extract_eprint", "fetch_arxiv", "find_main_tex", "is_eprint"]

EPRINT_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".gz")
ARXIV_ID = re.compile(r"^(?:arxiv:|arXiv:)(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)$")
_EPRINT_URL = "https://arxiv.org/e-print/"
_MAX_BYTES = 512 * 1024 * 1024  # unpacked size of one e-print
_MAX_FILES = 5000
_DOCUMENTCLASS = re.compile(r"^[^%\n]*\\documentclass", re.MULTILINE)
_BEGIN_DOCUMENT = re.compile(r"^[^%\n]*\\begin\s*\{document\}", re.MULTILINE)


def is_eprint(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in EPRINT_SUFFIXES)


def _safe_target(dest: Path, name: str) -> Path | None:
    """Where an archive member may go: inside ``dest``, never absolute, never through ``..``."""
    parts = Path(name.replace("\\", "/")).parts
    if not parts or Path(name).is_absolute() or ".." in parts or name.startswith("/"):
        return None
    target = (dest / Path(*parts)).resolve()
    return target if target.is_relative_to(dest.resolve()) else None


def _extract_tar(data: bytes, dest: Path) -> None:
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members = tar.getmembers()
        if len(members) > _MAX_FILES:
            raise InputError(f"the e-print has {len(members)} files (limit {_MAX_FILES})")
        for m in members:
            if not m.isfile():
                continue  # links, devices and folders are not taken (folders come with their files)
            target = _safe_target(dest, m.name)
            total += m.size
            if target is None or total > _MAX_BYTES:
                raise InputError(f"the e-print has an unsafe or oversized member: {m.name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            if src is not None:
                with src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)


def _extract_zip(data: bytes, dest: Path) -> None:
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > _MAX_FILES:
            raise InputError(f"the e-print has {len(infos)} files (limit {_MAX_FILES})")
        for info in infos:
            if info.is_dir():
                continue
            target = _safe_target(dest, info.filename)
            total += info.file_size
            if target is None or total > _MAX_BYTES:
                raise InputError(f"the e-print has an unsafe or oversized member: {info.filename!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)


def unpack(data: bytes, dest: Path, name: str = "e-print") -> None:
    """Unpack e-print bytes (tar, tar.gz, zip, or one gzipped .tex) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if data[:2] == b"PK":
        _extract_zip(data, dest)
        return
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                raw = gz.read(_MAX_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise InputError(f"{name}: a damaged gzip archive ({exc})") from exc
        if len(raw) > _MAX_BYTES:
            raise InputError(f"{name}: unpacks to more than {_MAX_BYTES // 2**20} MiB")
    if len(raw) > 262 and raw[257:262] == b"ustar" or _looks_tar(raw):
        try:
            _extract_tar(raw, dest)
        except tarfile.TarError as exc:
            raise InputError(f"{name}: a damaged tar archive ({exc})") from exc
        return
    if _DOCUMENTCLASS.search(raw[:200_000].decode("utf-8", "replace")):
        (dest / "main.tex").write_bytes(raw)  # arXiv serves a one-file paper as a gzipped .tex
        return
    raise InputError(f"{name}: not an e-print (expected a .tar.gz, .zip or gzipped .tex of a LaTeX project)")


def _looks_tar(raw: bytes) -> bool:
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:"):
            return True
    except tarfile.TarError:
        return False


def find_main_tex(folder: Path) -> Path:
    """The main file of a LaTeX project: a .tex with ``\\documentclass`` (and ``\\begin{document}``); ties go to the
    usual names (main, ms, paper), then to the shallowest, largest file."""
    candidates: list[tuple[int, int, int, int, str, Path]] = []
    for path in folder.rglob("*.tex"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not _DOCUMENTCLASS.search(text):
            continue
        rel = path.relative_to(folder)
        usual = path.stem.lower() in ("main", "ms", "paper", "article", "manuscript")
        candidates.append((0 if _BEGIN_DOCUMENT.search(text) else 1, 0 if usual else 1, len(rel.parts), -len(text),
                           rel.as_posix(), path))
    if not candidates:
        raise InputError(f"{folder}: no .tex file with \\documentclass in the e-print")
    return min(candidates)[-1]


def extract_eprint(archive: Path, dest: Path) -> Path:
    """Unpack an e-print archive into ``dest``; returns its main .tex."""
    if not archive.is_file():
        raise InputError(f"{archive}: no such file")
    unpack(archive.read_bytes(), dest, str(archive))
    return find_main_tex(dest)


def fetch_arxiv(ref: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Download the e-print of ``arxiv:ID`` and unpack it into ``dest``; returns its main .tex. The base URL can be
    changed with ``PAPERTRANS_ARXIV_EPRINT_URL`` (a mirror). A clear ``InputError`` when the network does not allow."""
    m = ARXIV_ID.match(ref)
    if m is None:
        raise InputError(f"{ref!r} is not an arXiv id (e.g. arxiv:1706.03762 or arxiv:hep-th/9901001v2)")
    import httpx

    url = os.environ.get("PAPERTRANS_ARXIV_EPRINT_URL", _EPRINT_URL).rstrip("/") + "/" + m.group(1)
    try:
        resp = httpx.get(url, timeout=timeout, follow_redirects=True, headers={"User-Agent": "papertrans"})
    except httpx.HTTPError as exc:
        raise InputError(
            f"cannot fetch {ref} from {url} ({type(exc).__name__}: {exc}); without network access, download the "
            "e-print (.tar.gz) elsewhere and pass the file instead"
        ) from exc
    if resp.status_code != 200:
        raise InputError(f"cannot fetch {ref}: HTTP {resp.status_code} from {url}")
    if len(resp.content) > _MAX_BYTES:
        raise InputError(f"{ref}: the e-print is larger than {_MAX_BYTES // 2**20} MiB")
    if resp.content[:5] == b"%PDF-":
        raise InputError(f"{ref}: arXiv has no LaTeX source for this paper (only a PDF); translate the PDF instead")
    unpack(resp.content, dest, ref)
    return find_main_tex(dest)
