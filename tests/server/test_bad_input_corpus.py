"""The bad-input corpus (issue 12): malformed, oversized, hostile or unauthorised requests to every endpoint, and bad
invocations of the CLI. Each is answered with a 4xx and a JSON ``{"error", "detail"}`` (or a non-zero CLI exit code
with a message, never a traceback), and the server is healthy afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import ADMIN, AppClient, make_adapter, serve

J = {"content-type": "application/json"}
KEY = {"X-API-Key": "good-key"}
BIG = "word " * 300  # over the small document limit used below


@dataclass
class Case:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 400
    code: str | None = None  # expected error code (None: any)


def js(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def fb(**kw: Any) -> bytes:
    return js({"translation_id": "{tid}", "segment_id": "s0", **kw})


CASES: dict[str, Case] = {
    # /translate
    "translate_empty_body": Case("POST", "/translate", b"", J, 400, "empty_body"),
    "translate_not_json": Case("POST", "/translate", b"{not json", J, 400, "invalid_json"),
    "translate_array": Case("POST", "/translate", b"[]", J, 400, "invalid_request"),
    "translate_markdown_number": Case("POST", "/translate", js({"markdown": 3}), J, 400, "invalid_request"),
    "translate_markdown_null": Case("POST", "/translate", js({"markdown": None}), J, 400, "invalid_request"),
    "translate_missing_markdown": Case("POST", "/translate", js({"glossary": []}), J, 400, "invalid_request"),
    "translate_blank": Case("POST", "/translate", js({"markdown": " \n\t "}), J, 400, "empty_document"),
    "translate_bad_output": Case("POST", "/translate", js({"markdown": "x", "output": "fr"}), J, 400),
    "translate_glossary_string": Case("POST", "/translate", js({"markdown": "x", "glossary": "a=b"}), J, 400),
    "translate_glossary_no_target": Case("POST", "/translate", js({"markdown": "x", "glossary": [{"source": "a"}]}),
                                         J, 400),
    "translate_glossary_blank": Case("POST", "/translate", js({"markdown": "x", "glossary": [
        {"source": " ", "target": "t"}]}), J, 400, "invalid_glossary"),
    "translate_glossary_duplicate": Case("POST", "/translate", js({"markdown": "x", "glossary": [
        {"source": "a", "target": "t"}, {"source": "A", "target": "u"}]}), J, 400, "invalid_glossary"),
    "translate_glossary_too_large": Case("POST", "/translate", js({"markdown": "x", "glossary": [
        {"source": f"t{i}", "target": "u"} for i in range(6)]}), J, 413, "glossary_too_large"),
    "translate_glossary_term_too_long": Case("POST", "/translate", js({"markdown": "x", "glossary": [
        {"source": "a" * 501, "target": "u"}]}), J, 400),
    "translate_adapter_number": Case("POST", "/translate", js({"markdown": "x", "adapter": 5}), J, 400),
    "translate_adapter_unknown": Case("POST", "/translate", js({"markdown": "Some text.", "adapter": "nope"}),
                                      J, 404, "unknown_adapter"),
    "translate_adapter_bad_version": Case("POST", "/translate", js({"markdown": "Text.", "adapter": "d2l@x"}), J, 400),
    "translate_adapter_too_long": Case("POST", "/translate", js({"markdown": "x", "adapter": "a" * 141}), J, 400),
    "translate_document_too_large": Case("POST", "/translate", js({"markdown": BIG}), J, 413, "document_too_large"),
    "translate_body_too_large": Case("POST", "/translate", js({"markdown": "x" * 6000}), J, 413, "payload_too_large"),
    "translate_too_many_segments": Case("POST", "/translate", js({"markdown": "\n\n".join(["Para."] * 9)}), J, 413,
                                        "too_many_segments"),
    "translate_lone_surrogate": Case("POST", "/translate", b'{"markdown": "A \\ud800 text"}', J, 400, "invalid_json"),
    "translate_invalid_utf8": Case("POST", "/translate", b'{"markdown": "bad \xff\xfe"}', J, 400, "invalid_encoding"),
    "translate_wrong_content_type": Case("POST", "/translate", b"markdown=x", {"content-type": "text/plain"}, 400),
    "translate_get": Case("GET", "/translate", None, {}, 405, "method_not_allowed"),
    "translate_deep_json": Case("POST", "/translate", b'{"markdown": ' + b"[" * 2000 + b"]" * 2000 + b"}", J, 400,
                                "too_deeply_nested"),
    # /jobs
    "jobs_empty_body": Case("POST", "/jobs", b"", J, 400, "empty_body"),
    "jobs_not_json": Case("POST", "/jobs", b"{", J, 400, "invalid_json"),
    "jobs_blank": Case("POST", "/jobs", js({"markdown": ""}), J, 400, "empty_document"),
    "jobs_document_too_large": Case("POST", "/jobs", js({"markdown": BIG}), J, 413, "document_too_large"),
    "jobs_too_many_segments": Case("POST", "/jobs", js({"markdown": "\n\n".join(["Para."] * 9)}), J, 413,
                                   "too_many_segments"),
    "jobs_adapter_unknown": Case("POST", "/jobs", js({"markdown": "Text.", "adapter": "nope"}), J, 404),
    "jobs_unknown_id": Case("GET", "/jobs/" + "0" * 32, None, {}, 404, "unknown_job"),
    "jobs_bad_id": Case("GET", "/jobs/..%2F..%2Fetc%2Fpasswd", None, {}, 404),
    "jobs_events_unknown": Case("GET", "/jobs/" + "f" * 32 + "/events", None, {}, 404, "unknown_job"),
    "jobs_events_bad_last_id": Case("GET", "/jobs/{job}/events", None, {"Last-Event-ID": "x"}, 400,
                                    "invalid_last_event_id"),
    "jobs_events_bad_after": Case("GET", "/jobs/{job}/events?after=abc", None, {}, 400),
    # /feedback
    "feedback_empty_body": Case("POST", "/feedback", b"", J, 400, "empty_body"),
    "feedback_not_json": Case("POST", "/feedback", b"nope", J, 400, "invalid_json"),
    "feedback_nothing": Case("POST", "/feedback", fb(), J, 400, "empty_feedback"),
    "feedback_bad_rating": Case("POST", "/feedback", fb(rating="sideways"), J, 400),
    "feedback_unknown_translation": Case("POST", "/feedback", js({"translation_id": "nope", "segment_id": "s0",
                                                                  "rating": "up"}), J, 404),
    "feedback_unknown_segment": Case("POST", "/feedback", js({"translation_id": "{tid}", "segment_id": "s99",
                                                              "rating": "up"}), J, 404),
    "feedback_empty_correction": Case("POST", "/feedback", fb(correction="  "), J, 400, "empty_correction"),
    "feedback_correction_drops_math": Case("POST", "/feedback", fb(correction="没有公式。"), J, 422),
    "feedback_comment_too_long": Case("POST", "/feedback", fb(comment="x" * 4001), J, 413, "field_too_large"),
    "feedback_id_too_long": Case("POST", "/feedback", js({"translation_id": "t" * 65, "segment_id": "s0",
                                                          "rating": "up"}), J, 413, "field_too_large"),
    "feedback_body_too_large": Case("POST", "/feedback", fb(comment="x" * 300_000), J, 413),
    "feedback_bad_idempotency_key": Case("POST", "/feedback", fb(rating="up"), {**J, "Idempotency-Key": " "}, 400,
                                         "invalid_idempotency_key"),
    "feedback_lone_surrogate": Case("POST", "/feedback", b'{"translation_id": "\\udfff", "segment_id": "s0"}', J, 400),
    # /comparisons
    "comparison_empty_body": Case("POST", "/comparisons", b"", J, 400, "empty_body"),
    "comparison_one_variant": Case("POST", "/comparisons", js({"translation_id": "{tid}", "segment_id": "s0",
                                                               "variants": ["current"]}), J, 400, "invalid_variants"),
    "comparison_same_variants": Case("POST", "/comparisons", js({"translation_id": "{tid}", "segment_id": "s0",
                                                                 "variants": ["base", "base"]}), J, 400),
    "comparison_unknown_adapter": Case("POST", "/comparisons", js({"translation_id": "{tid}", "segment_id": "s0",
                                                                   "variants": ["current", "nope"]}), J, 404),
    "comparison_unknown_translation": Case("POST", "/comparisons", js({"translation_id": "nope",
                                                                       "segment_id": "s0"}), J, 404),
    "choice_bad_value": Case("POST", "/comparisons/1/choice", js({"choice": "c"}), J, 400),
    "choice_unknown_comparison": Case("POST", "/comparisons/999999/choice", js({"choice": "a"}), J, 404),
    # reads
    "translation_unknown": Case("GET", "/translations/nope", None, {}, 404),
    "translation_id_too_long": Case("GET", "/translations/" + "t" * 100, None, {}, 413),
    "unknown_route": Case("GET", "/nope", None, {}, 404, "not_found"),
    "review_traversal": Case("GET", "/review/..%2F..%2Fpyproject.toml", None, {}, 404),
    # adapters (admin)
    "adapters_no_admin_key": Case("GET", "/adapters", None, {}, 401, "admin_key_missing"),
    "adapters_wrong_admin_key": Case("GET", "/adapters", None, {"X-Admin-Key": "wrong"}, 403, "admin_key_invalid"),
    "adapters_register_outside": Case("POST", "/adapters/d2l/versions", js({"folder": "../../etc"}), {**J, **ADMIN},
                                      400, "folder_outside_store"),
    "adapters_register_absolute": Case("POST", "/adapters/d2l/versions", js({"folder": "/etc"}), {**J, **ADMIN}, 400,
                                       "folder_outside_store"),
    "adapters_register_missing": Case("POST", "/adapters/d2l/versions", js({"folder": "nope"}), {**J, **ADMIN}, 404,
                                      "folder_not_found"),
    "adapters_register_not_adapter": Case("POST", "/adapters/d2l/versions", js({"folder": "empty"}), {**J, **ADMIN},
                                          422, "not_an_adapter"),
    "adapters_register_rank_too_large": Case("POST", "/adapters/d2l/versions", js({"folder": "huge"}), {**J, **ADMIN},
                                             422, "adapter_rank_too_large"),
    "adapters_bad_name": Case("POST", "/adapters/bad%20name!/versions", js({"folder": "v1"}), {**J, **ADMIN}, 400,
                              "invalid_adapter_name"),
    "adapters_activate_zero": Case("POST", "/adapters/d2l/activate", js({"version": 0}), {**J, **ADMIN}, 400),
    "adapters_activate_unknown": Case("POST", "/adapters/nope/activate", js({"version": 1}), {**J, **ADMIN}, 404),
    "adapters_rollback_unknown": Case("POST", "/adapters/nope/rollback", None, ADMIN, 404),
    "adapters_delete_bad_version": Case("DELETE", "/adapters/d2l/versions/abc", None, ADMIN, 404),
}

# with API keys configured
KEYED: dict[str, Case] = {
    "keyed_translate_no_key": Case("POST", "/translate", js({"markdown": "Text."}), J, 401, "missing_api_key"),
    "keyed_translate_wrong_key": Case("POST", "/translate", js({"markdown": "Text."}), {**J, "X-API-Key": "bad"}, 401,
                                      "invalid_api_key"),
    "keyed_jobs_no_key": Case("POST", "/jobs", js({"markdown": "Text."}), J, 401, "missing_api_key"),
    "keyed_job_read_no_key": Case("GET", "/jobs/" + "0" * 32, None, {}, 401, "missing_api_key"),
    "keyed_feedback_wrong_key": Case("POST", "/feedback", fb(rating="up"), {**J, "X-API-Key": "bad"}, 401),
    "keyed_comparison_no_key": Case("POST", "/comparisons", js({"translation_id": "x", "segment_id": "s0"}), J, 401),
}

LIMITS = {"max_segments": 8, "max_glossary_entries": 5}


async def _prepare(c: AppClient, root: Path, headers: dict[str, str]) -> dict[str, str]:
    make_adapter(root, "v1")
    (root / "empty").mkdir(exist_ok=True)
    make_adapter(root, "huge", rank=512)
    assert (await c.post("/adapters/d2l/versions", json={"folder": "v1"}, headers=ADMIN)).status_code == 201
    r = await c.post("/translate", json={"markdown": "The model uses $x$ here."}, headers=headers)
    assert r.status_code == 200, r.text
    job = await c.post("/jobs", json={"markdown": "Some text."}, headers=headers)
    return {"tid": r.json()["translation_id"], "job": job.json()["id"]}


async def _check(c: AppClient, case: Case, ids: dict[str, str], headers: dict[str, str]) -> None:
    path = case.path.format(**ids)
    body = case.body.replace(b"{tid}", ids["tid"].encode()) if case.body is not None else None
    r = await c.request(case.method, path, content=body, headers=case.headers)
    assert r.status_code == case.status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json"), r.headers
    data = r.json()
    assert isinstance(data.get("error"), str) and data["error"] and data.get("detail"), data
    if case.code is not None:
        assert data["error"] == case.code, data
    health = await c.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    ok = await c.post("/translate", json={"markdown": "The paper is fine."}, headers=headers)
    assert ok.status_code == 200


@pytest.mark.parametrize("name", sorted(CASES))
async def test_bad_request_gets_4xx_json(app_factory: Any, tmp_path: Path, name: str) -> None:
    app = app_factory(limits=LIMITS, translate={"max_document_bytes": 1000}, max_body_bytes=5000)
    async with serve(app) as c:
        ids = await _prepare(c, tmp_path / "data" / "adapters", {})
        await _check(c, CASES[name], ids, {})


@pytest.mark.parametrize("name", sorted(KEYED))
async def test_unauthorised_request_gets_401_json(app_factory: Any, tmp_path: Path, name: str) -> None:
    async with serve(app_factory(api_keys=["good-key"])) as c:
        ids = await _prepare(c, tmp_path / "data" / "adapters", KEY)
        await _check(c, KEYED[name], ids, KEY)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) + len(KEYED) + len(CLI_CASES) >= 60


# -- the CLI ----------------------------------------------------------------------------------------------------------

DEEP_TEX = "\\documentclass{article}\\begin{document}" + "{" * 5000 + "x" + "}" * 5000 + "\\end{document}\n"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens

CLI_CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "translate_missing_file": (["translate", "{tmp}/nope.md", "--server", UNREACHABLE], {}),
    "translate_empty_file": (["translate", "{tmp}/empty.md", "--server", UNREACHABLE], {"empty.md": ""}),
    "translate_unreachable_server": (["translate", "{tmp}/doc.md", "--server", UNREACHABLE, "--timeout", "2"],
                                     {"doc.md": "The model.\n"}),
    "translate_bad_glossary": (["translate", "{tmp}/doc.md", "--glossary", "{tmp}/g.json", "--server", UNREACHABLE],
                               {"doc.md": "The model.\n", "g.json": "{not json"}),
    "translate_unknown_suffix": (["translate", "{tmp}/doc.docx", "--server", UNREACHABLE], {"doc.docx": "x"}),
    "tex2md_missing": (["tex2md", "{tmp}/nope.tex"], {}),
    "tex2md_too_deep": (["tex2md", "{tmp}/deep.tex"], {"deep.tex": DEEP_TEX}),
    "tex2md_not_tex": (["tex2md", "{tmp}/paper.txt"], {"paper.txt": "x"}),
    "pdf2md_missing": (["pdf2md", "{tmp}/nope.pdf"], {}),
    "pdf2md_not_pdf": (["pdf2md", "{tmp}/fake.pdf"], {"fake.pdf": "this is not a pdf"}),
    "feedback_bad_rating": (["feedback", "tid", "s0", "sideways", "--server", UNREACHABLE], {}),
    "feedback_unreachable": (["feedback", "tid", "s0", "up", "--server", UNREACHABLE, "--timeout", "2"], {}),
    "export_bad_kind": (["export", "--kind", "bogus", "-o", "{tmp}/out.jsonl"], {}),
    "export_bad_since": (["export", "--kind", "dpo", "--since", "yesterday", "-o", "{tmp}/out.jsonl"], {}),
    "unknown_command": (["frobnicate"], {}),
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_bad_cli_invocation_exits_nonzero_with_a_message(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from papertrans.cli import main

    argv, files = CLI_CASES[name]
    for fname, text in files.items():
        (tmp_path / fname).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAPERTRANS_DATA_DIR", str(tmp_path / "data"))
    try:
        code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    except SystemExit as exc:  # argparse refuses bad options itself
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    assert code != 0, name
    assert err.strip(), "a message says what was wrong"
    assert "Traceback" not in err, err
