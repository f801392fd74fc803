"""``papertrans distill`` on fake engines: the rows are what ``train --method sft`` takes (the student's prompt, not
the teacher's), dropped segments are reported with their reasons, the judge is asked in both orders, and bad input
ends in a clear error and exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from papertrans import exitcodes
from papertrans._judge import parse_choice
from papertrans.cli import build_parser, main
from papertrans.contract.prompts import CompletionOnly, build_prompt, prompt_style_of
from papertrans.distill import DistillConfig, Endpoint, distill, run
from papertrans.rl.config import parse_train_args
from papertrans.rl.corpus import is_parallel
from papertrans.rl.datasets import load_rows
from papertrans.rl.train import prepare
from papertrans.server.engine import EngineUnavailableError, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine

DATA = Path(__file__).resolve().parent.parent / "data" / "d2l_en_zh.jsonl"
WORD = re.compile(r"[A-Za-z]+")


def chinese(source: str) -> str:
    """A stand-in translation that keeps every placeholder and reads as Chinese to validation: one CJK character per
    English word, picked by the word (no repetition a check would flag) from a block of rare characters that human
    translations do not use, so a scripted judge can tell the teacher's text apart."""
    return WORD.sub(lambda m: chr(_RARE + sum(map(ord, m.group(0).lower())) * 7 % 3000), source)


_RARE = 0x9000


def is_teachers(text: str) -> bool:
    """The teacher's greedy stand-in (not its sample, not a human translation)."""
    cjk = [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
    return bool(cjk) and "样本" not in text and all(_RARE <= ord(ch) < _RARE + 3000 for ch in cjk)


class Teacher(FakeEngine):
    """Translates into :func:`chinese`; sources containing ``BROKEN`` get an empty answer (a hard failure every time:
    fallback), ``SHORTENED`` ones lose all but their first word (omission: needs_review), ``COPIED`` ones come back
    as they are. A sampled request (temperature > 0) answers differently, so the judge has a second opinion."""

    def translate(self, source: str) -> str:
        if "COPIED" in source:
            return source
        if "SHORTENED" in source:
            return chinese(source.split()[0])
        return chinese(source)

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: Any = None, request_id: str
    ) -> Generation:
        gen = await super().generate(prompt, options, adapter=adapter, request_id=request_id)
        if options.temperature > 0 and gen.text:
            gen.text = gen.text.replace("。", "，") + "样本"
        return gen


def teacher_factory(**kwargs: Any) -> Any:
    made: list[Any] = []

    async def build(endpoint: Endpoint) -> Any:
        engine = Teacher(break_when=lambda source, attempt: "BROKEN" in source, **kwargs)
        made.append(engine)
        return engine

    build.made = made  # type: ignore[attr-defined]
    return build


class ScriptedJudge(FakeEngine):
    """A judge that reads the pair from its prompt and answers by a script: ``fair`` picks the teacher's translation
    wherever it stands, ``first`` always answers A (position bias), ``other`` picks the other translation, ``mute``
    answers with no letter."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.prompts: list[str] = []

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: Any = None, request_id: str
    ) -> Generation:
        self.prompts.append(prompt)
        a = prompt.split("Translation A:\n", 1)[1].split("\n\nTranslation B:", 1)[0]
        teacher_is_a = is_teachers(a)
        if self.mode == "first":
            text = "A"
        elif self.mode == "mute":
            text = "Both are fine."
        elif self.mode == "fair":
            text = "<think>B reads well, but A keeps more.</think>A" if teacher_is_a else "B"
        else:
            text = "B" if teacher_is_a else "A"
        return Generation(text=text, tokens_in=self.count_tokens(prompt), tokens_out=1, finish_reason="stop")


def judge_factory(mode: str) -> Any:
    judges: list[ScriptedJudge] = []
    teacher = teacher_factory()

    async def build(endpoint: Endpoint) -> Any:
        if endpoint.url == "http://judge":
            judges.append(ScriptedJudge(mode))
            return judges[-1]
        return await teacher(endpoint)

    build.judges = judges  # type: ignore[attr-defined]
    return build


def config(tmp_path: Path, data: Path, **overrides: Any) -> DistillConfig:
    return DistillConfig(
        teacher=Endpoint("http://teacher", "teacher-model"), data=data, out=tmp_path / "rows.jsonl", **overrides
    )


def d2l_units(tmp_path: Path, count: int) -> Path:
    lines = DATA.read_text(encoding="utf-8").splitlines()[:count]
    path = tmp_path / "units.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fake_base(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": "gemma3_text", "hidden_size": 640}))
    return base


def test_rows_are_what_train_sft_takes_with_the_students_prompt(tmp_path: Path) -> None:
    build = teacher_factory()
    report = asyncio.run(distill(config(tmp_path, d2l_units(tmp_path, 6)), build_engine=build))
    assert report["units"]["read"] == 6 and report["rows"] > 0 and report["error"] is None
    out = tmp_path / "rows.jsonl"
    # the loader and the checks `train --method sft` runs, before any model is loaded
    loop, _ = parse_train_args(
        [
            "--method",
            "sft",
            "--data",
            str(out),
            "--out",
            str(tmp_path / "adapter"),
            "--base_model",
            str(fake_base(tmp_path)),
        ],
        cuda=False,
    )
    prep = prepare(loop)
    assert len(prep.rows) == report["rows"] and not is_parallel(prep.rows)
    assert prep.prompt_style == "zeroshot"  # read from the rows' prompts, recorded in the adapter
    teacher = build.made[0]
    assert teacher.requests and all("<|user|>" not in r["prompt"] for r in prep.rows)
    for row in prep.rows:
        # the student's serving prompt for that masked segment, not the teacher's chat turn
        expected, _ = build_prompt(CompletionOnly(), row["source"], style="zeroshot")
        assert row["prompt"] == expected and prompt_style_of(row["prompt"]) == "zeroshot"
        assert row["completion"].endswith("\n\n") and "\n\n" not in row["completion"][:-2]
        assert row["completion"].strip() == chinese(row["source"]).strip()  # the teacher's output, placeholders kept
        assert sorted(row["placeholders"]) == sorted(re.findall(r"⟦\d+⟧", row["source"]))
        assert row["meta"]["teacher"] == "teacher-model" and row["meta"]["status"] in ("ok", "retried")
    saved = json.loads((tmp_path / "rows.jsonl.report.json").read_text())
    assert saved["rows"] == report["rows"] and saved["tokens"]["teacher_in"] > 0


def test_fewshot_style_rows(tmp_path: Path) -> None:
    report = asyncio.run(
        distill(config(tmp_path, d2l_units(tmp_path, 2), prompt_style="fewshot"), build_engine=teacher_factory())
    )
    rows = load_rows(tmp_path / "rows.jsonl")
    assert report["rows"] == len(rows) > 0 and {prompt_style_of(r["prompt"]) for r in rows} == {"fewshot"}


def test_dropped_segments_are_reported_with_their_reasons(tmp_path: Path) -> None:
    doc = tmp_path / "paper.md"
    doc.write_text(
        "# Attention\n\n"
        "We train the model with $x$ and a learning rate of $\\eta$.\n\n"
        "It is BROKEN here.\n\n"
        "The teacher SHORTENED this sentence about models and their training data.\n\n"
        "We keep this COPIED line.\n\n"
        "$$a = b$$\n",
        encoding="utf-8",
    )
    report = asyncio.run(distill(config(tmp_path, doc), build_engine=teacher_factory()))
    assert report["units"] == {"read": 1, "kept": 1, "dropped": 0}
    assert report["dropped"] == {"fallback": 1, "needs_review": 1, "identical_to_source": 1}
    assert report["segments"]["kept"] == report["rows"] == 2  # the heading and the first paragraph
    assert report["validation_reasons"]["empty_output"] == 1  # the fallback's failure
    assert report["validation_reasons"]["omission"] == 1  # the needs_review's
    sources = [r["source"] for r in load_rows(tmp_path / "rows.jsonl")]
    assert not any(marker in s for s in sources for marker in ("BROKEN", "SHORTENED", "COPIED"))


def test_max_segment_chars_drops_long_segments(tmp_path: Path) -> None:
    report = asyncio.run(
        distill(config(tmp_path, d2l_units(tmp_path, 6), max_segment_chars=80), build_engine=teacher_factory())
    )
    assert report["dropped"].get("too_long", 0) > 0
    assert all(len(r["source"]) <= 80 for r in load_rows(tmp_path / "rows.jsonl"))


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [("fair", "agree"), ("first", "disagree"), ("other", "prefers_other"), ("mute", "unparsed")],
)
def test_judge_asks_both_orders_against_the_reference(tmp_path: Path, mode: str, outcome: str) -> None:
    build = judge_factory(mode)
    cfg = config(tmp_path, d2l_units(tmp_path, 4), judge=Endpoint("http://judge", "judge-model"))
    report = asyncio.run(distill(cfg, build_engine=build))
    pairs = report["judge_pairs"]
    assert pairs["compared"] > 0 and pairs[outcome] == pairs["compared"]
    assert pairs.get("against_reference", 0) > 0  # the d2l rows' own Chinese side
    judge = build.judges[0]
    assert len(judge.prompts) == 2 * pairs["compared"]  # every pair asked twice
    # the same two translations, swapped: what is A in one question is B in the other
    first, second = judge.prompts[0], judge.prompts[1]
    a1, b1 = first.split("Translation A:\n")[1].split("\n\nTranslation B:\n")
    a2, b2 = second.split("Translation A:\n")[1].split("\n\nTranslation B:\n")
    assert {a1, b1.split("\n\nBetter:")[0]} == {a2, b2.split("\n\nBetter:")[0]} and a1 != a2
    rows = load_rows(tmp_path / "rows.jsonl") if report["rows"] else []
    if outcome == "agree":
        assert report["rows"] >= pairs["compared"] and all(r["meta"]["judge"] in ("agree", None) for r in rows)
        assert pairs["disagreements"] == 0
    else:
        assert report["dropped"][f"judge_{outcome}"] == pairs["compared"]
        assert all(r["meta"]["judge"] is None for r in rows)  # only segments the judge never saw are left
    if outcome == "disagree":
        assert pairs["disagreements"] == pairs["compared"]
    assert report["tokens"]["judge_in"] > 0 and report["judge"]["model"] == "judge-model"


def test_judge_compares_with_a_second_sample_without_a_reference(tmp_path: Path) -> None:
    doc = tmp_path / "paper.md"
    doc.write_text("We train the model with $x$ and a learning rate of $\\eta$.\n\nAttention lets it focus.\n")
    build = judge_factory("fair")
    report = asyncio.run(
        distill(config(tmp_path, doc, judge=Endpoint("http://judge", "judge-model")), build_engine=build)
    )
    assert report["judge_pairs"]["against_sample"] == 2 == report["judge_pairs"]["agree"]
    assert report["rows"] == 2
    assert any("样本" in p for p in build.judges[0].prompts)  # the sampled alternative was shown


def test_parse_choice() -> None:
    assert parse_choice("A") == "A" and parse_choice(" Answer: B.") == "B"
    assert parse_choice("<think>A looks right, but B keeps the formula</think>\nB") == "B"
    assert parse_choice("<think>unfinished A") is None
    assert parse_choice("Both are equally good.") is None and parse_choice("甲") is None


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["distill", "--teacher", "http://127.0.0.1:9", "--model", "m", *argv])


def test_teacher_unreachable_is_unavailable_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def down(endpoint: Endpoint) -> Any:
        raise EngineUnavailableError(f"cannot reach {endpoint.url}")

    data = d2l_units(tmp_path, 2)
    code = run(_args("--data", str(data), "--out", str(tmp_path / "rows.jsonl")), build_engine=down)
    assert code == exitcodes.UNAVAILABLE
    err = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert err["error"] == "engine_unavailable" and "cannot reach" in err["detail"]
    report = json.loads((tmp_path / "rows.jsonl.report.json").read_text())
    assert report["rows"] == 0 and report["error"]["code"] == "engine_unavailable"


def test_teacher_dying_mid_run_keeps_the_rows_so_far(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Dying(Teacher):
        async def generate(self, prompt: str, options: SamplingOptions, **kw: Any) -> Generation:
            if len(self.requests) >= 3:
                raise EngineUnavailableError("the teacher went away")
            return await super().generate(prompt, options, **kw)

    async def build(endpoint: Endpoint) -> Any:
        return Dying()

    data = d2l_units(tmp_path, 8)
    code = run(
        _args("--data", str(data), "--out", str(tmp_path / "rows.jsonl"), "--units-in-flight", "1"), build_engine=build
    )
    assert code == exitcodes.UNAVAILABLE
    report = json.loads((tmp_path / "rows.jsonl.report.json").read_text())
    assert report["error"]["code"] == "engine_unavailable"
    assert len(load_rows(tmp_path / "rows.jsonl")) == report["rows"]
    assert "stopped: engine_unavailable" in capsys.readouterr().out


def test_nothing_kept_is_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "paper.md"
    doc.write_text("It is BROKEN here.\n")
    code = run(_args("--data", str(doc), "--out", str(tmp_path / "rows.jsonl")), build_engine=teacher_factory())
    assert code == exitcodes.INCOMPLETE
    out = capsys.readouterr().out
    assert "0 kept" in out and "dropped fallback: 1" in out
    assert (tmp_path / "rows.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (None, "missing.jsonl", "data_not_found"),
        ("", "empty.jsonl", "empty_dataset"),
        ('{"en": "We train."}\n{not json\n', "bad.jsonl", "invalid_json"),
        ('{"en": "We train."}\n[1, 2]\n', "list.jsonl", "invalid_row"),
        ('{"zh": "我们训练。"}\n', "nozh.jsonl", "missing_columns"),
        ("   \n\n", "blank.md", "empty_dataset"),
        ("a,b\n", "table.csv", "unknown_format"),
    ],
)
def test_bad_input_is_a_clear_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, name: str, code: str
) -> None:
    data = tmp_path / name
    if content is not None:
        data.write_text(content, encoding="utf-8")
    # the real command line, the real engine factory: input is checked before any teacher is contacted
    status = main(
        [
            "distill",
            "--teacher",
            "http://127.0.0.1:9",
            "--model",
            "m",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "rows.jsonl"),
        ]
    )
    captured = capsys.readouterr()
    assert status == exitcodes.USAGE
    err = json.loads(captured.err.strip())
    assert err["error"] == code and "Traceback" not in captured.err
    if code == "invalid_json":
        assert ":2:" in err["detail"]  # the bad line is named
    assert not (tmp_path / "rows.jsonl").exists()


def test_the_chat_provider_as_teacher_key_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real factory: a ChatEngine on an OpenAI-compatible provider (a fake one behind httpx's MockTransport), the
    key read from the variable ``--api-key-env`` names; it reaches the provider and nowhere else."""
    from papertrans.distill import chat_engine
    from tests.server._fake_openai import FakeOpenAI

    provider = FakeOpenAI()
    monkeypatch.setenv("TEACHER_KEY", provider.key or "")
    doc = tmp_path / "paper.md"
    doc.write_text("The attention mechanism lets the model focus on relevant tokens.\n\nWe train the model.\n")
    args = _args("--data", str(doc), "--out", str(tmp_path / "rows.jsonl"), "--api-key-env", "TEACHER_KEY")
    args.model = provider.model
    code = run(args, build_engine=lambda endpoint: chat_engine(endpoint, transport=provider.transport()))
    out = capsys.readouterr()
    assert code == exitcodes.OK, out
    rows = load_rows(tmp_path / "rows.jsonl")
    assert rows and provider.chat_requests  # the teacher was asked through /v1/chat/completions
    assert all(r["prompt"].startswith("把英文翻译成中文") for r in rows)  # the student's prompt, not the chat turn
    assert provider.headers[0]["authorization"] == f"Bearer {provider.key}"
    written = (tmp_path / "rows.jsonl").read_text() + (tmp_path / "rows.jsonl.report.json").read_text()
    assert provider.key and provider.key not in written + out.out + out.err


def test_a_provider_that_refuses_connections_is_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from papertrans.distill import chat_engine

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__MAX_ATTEMPTS", "1")  # no backoff in a unit test
    data = d2l_units(tmp_path, 2)
    args = _args("--data", str(data), "--out", str(tmp_path / "rows.jsonl"))
    code = run(args, build_engine=lambda endpoint: chat_engine(endpoint, transport=httpx.MockTransport(refuse)))
    captured = capsys.readouterr()
    assert code == exitcodes.UNAVAILABLE and "Traceback" not in captured.err
    assert json.loads(captured.err.strip().splitlines()[-1])["error"] == "engine_unavailable"
    assert load_rows(tmp_path / "rows.jsonl") == []


def test_refresh_replays_distilled_rows_beside_the_nights_corrections(tmp_path: Path) -> None:
    """``papertrans refresh --replay distilled.jsonl``: the recipe's SFT step mixes the rows in (rl/recipe.py)."""
    from papertrans.rl.cli import refresh_options
    from papertrans.rl.recipe import plan_steps

    asyncio.run(distill(config(tmp_path, d2l_units(tmp_path, 6)), build_engine=teacher_factory()))
    distilled = load_rows(tmp_path / "rows.jsonl")
    export = tmp_path / "export"
    export.mkdir()
    correction = {"prompt": distilled[0]["prompt"], "completion": "读者的更正。\n\n", "reference": "读者的更正。"}
    (export / "sft.jsonl").write_text(json.dumps(correction, ensure_ascii=False) + "\n", encoding="utf-8")
    args = build_parser().parse_args(["refresh", "--replay", str(tmp_path / "rows.jsonl"), "--replay-ratio", "2"])
    recipe = refresh_options(args).recipe
    steps = plan_steps(export, recipe, out_dir=tmp_path / "data")
    sft = next(s for s in steps if s.method == "sft")
    mixed = load_rows(sft.data)
    assert sft.rows == len(mixed) == 3  # the correction + 2 replayed rows per correction
    pairs = {(r["prompt"], r["completion"]) for r in distilled}
    assert sum((r["prompt"], r["completion"]) in pairs for r in mixed) == 2
