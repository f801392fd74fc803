"""``papertrans memory import|export`` (the server's translation memory as TMX) and ``papertrans glossary convert``
(TBX-Basic ↔ CSV / TSV / JSON), registered by :func:`papertrans.clients.cli.register`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from papertrans import exitcodes

from .cli import _add_client_options, _guarded, _parser, _stderr
from .errors import InputError

__all__ = ["register"]

_OUT_FORMATS = (".tbx", ".csv", ".tsv", ".json")


def _admin_client(args: argparse.Namespace) -> Any:
    from .client import Client
    from .client.config import load_config

    flags = {"server": args.server, "api_key": args.api_key, "timeout": args.timeout, "admin_key": args.admin_key}
    cfg = load_config(flags, args.config)
    if not cfg.admin_key:
        raise InputError("the translation memory needs the admin key: --admin-key or PAPERTRANS_ADMIN_KEY")
    return Client(cfg.server, api_key=cfg.api_key, admin_key=cfg.admin_key, timeout=cfg.timeout)


@_guarded
def _cmd_memory_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    with _admin_client(args) as client:
        report = client.import_memory(data, origin=args.origin or path.name)
    err = _stderr()
    err.print(
        f"{path}: {report['units']} unit(s): {report['added']} added, {report['replaced']} replaced, "
        f"{report['rejected_count']} left out"
    )
    reasons: dict[str, int] = {}
    for item in report["rejected"]:
        reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        err.print(f"  {count} × {reason}")
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    return exitcodes.OK


@_guarded
def _cmd_memory_export(args: argparse.Namespace) -> int:
    with _admin_client(args) as client:
        data = client.export_memory()
    if args.file == "-":
        sys.stdout.buffer.write(data)
        return exitcodes.OK
    from ._translate import atomic_write

    atomic_write(Path(args.file), data.decode("utf-8"))
    _stderr().print(f"wrote {args.file} ({data.count(b'<tu')} unit(s))")
    return exitcodes.OK


def _glossary_text(pairs: list[tuple[str, str]], suffix: str) -> str:
    if suffix == ".tbx":
        from papertrans import protect
        from papertrans.contract.tbx import write_tbx

        return write_tbx(protect.GlossaryEntry(s, t) for s, t in pairs).decode("utf-8")
    if suffix == ".json":
        return json.dumps([{"source": s, "target": t} for s, t in pairs], ensure_ascii=False, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if suffix == ".tsv" else ",", lineterminator="\n")
    writer.writerow(("source", "target"))
    writer.writerows(pairs)
    return out.getvalue()


@_guarded
def _cmd_glossary_convert(args: argparse.Namespace) -> int:
    from ._glossary import load_glossary
    from ._translate import atomic_write

    source, target = Path(args.input), Path(args.output)
    suffix = target.suffix.lower()
    if suffix not in _OUT_FORMATS:
        raise InputError(f"{target}: the output format is chosen by its extension: {', '.join(_OUT_FORMATS)}")
    if target.exists() and target.resolve() == source.resolve():
        raise InputError("the output would overwrite the input")
    pairs = load_glossary(source)
    atomic_write(target, _glossary_text(pairs, suffix))
    _stderr().print(f"wrote {target} ({len(pairs)} entries)")
    return exitcodes.OK


def _admin_options(parser: argparse.ArgumentParser) -> None:
    _add_client_options(parser)
    parser.add_argument("--admin-key", metavar="KEY", help="X-Admin-Key [env PAPERTRANS_ADMIN_KEY]")


def register(sub: Any) -> None:
    """Declare ``memory`` and ``glossary`` (argparse only)."""
    p = _parser(
        sub,
        "memory",
        "import or export the server's translation memory (TMX 1.4b)",
        "The translation memory answers a segment it knows verbatim (status 'memory', no model call): readers'\n"
        "accepted corrections and pairs imported from TMX. Import runs each unit's English through the same masking\n"
        "as /translate (formulas, code, links, citations as <ph> codes) and lists every unit it leaves out and why;\n"
        "export writes corrections and imported pairs, placeholders as <ph> carrying the protected text. Both need\n"
        "the admin key.",
        "  papertrans memory import team.tmx --admin-key secret\n"
        "  papertrans memory export memory.tmx --admin-key secret",
    )
    actions = p.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    a = actions.add_parser("import", help="import a TMX file", description="Import a TMX file into the memory.")
    a.add_argument("file", metavar="FILE.tmx")
    a.add_argument("--origin", metavar="NAME", help="the name stored with the entries (default: the file name)")
    a.add_argument("--json", action="store_true", help="print the server's report as JSON on stdout")
    _admin_options(a)
    a.set_defaults(handler=_cmd_memory_import)
    a = actions.add_parser("export", help="export the memory as TMX", description="Export the memory as TMX 1.4b.")
    a.add_argument("file", metavar="FILE.tmx", help="output file ('-' = stdout)")
    _admin_options(a)
    a.set_defaults(handler=_cmd_memory_export)

    p = _parser(
        sub,
        "glossary",
        "convert a glossary between TBX-Basic, CSV, TSV and JSON",
        "Convert a glossary file; formats by extension. Input: .tbx (TBX-Basic v3, or v2 <martif>), .csv, .tsv,\n"
        ".txt, .json, .toml (as `translate --glossary` reads them); output: .tbx (TBX-Basic v3), .csv, .tsv, .json.\n"
        "`translate --glossary` also reads a .tbx directly.",
        "  papertrans glossary convert termbase.tbx terms.csv\n  papertrans glossary convert terms.csv terms.tbx",
    )
    actions = p.add_subparsers(dest="glossary_command", metavar="ACTION", required=True)
    a = actions.add_parser("convert", help="convert IN to OUT", description="Convert a glossary file.")
    a.add_argument("input", metavar="IN")
    a.add_argument("output", metavar="OUT")
    a.set_defaults(handler=_cmd_glossary_convert)
