"""benchmarks/quality_figures.py: the faithfulness figures bench_quality.py prints (fast, inline strings only)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_figures.py"


def _load() -> ModuleType:
    """The benchmark helper module by its file (benchmarks/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("quality_figures", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("quality_figures", module)
    spec.loader.exec_module(module)
    return module


qf = _load()

SOURCE = "The loss $L$ depends on the weights $w$ and on the bias $b$. We minimize it over the whole training set."


def _segment(source: str, translation: str, status: str = "ok", seg_id: str = "s0") -> dict[str, object]:
    return {"id": seg_id, "source": source, "translation": translation, "status": status, "reasons": []}


# -- length against the reference ---------------------------------------------------------------------------------
def test_length_counts_cjk_latin_words_and_numbers_outside_protected_items() -> None:
    assert qf.content_length("梯度下降 uses step size 0.1 and 1,000 steps") == 4 + 5 + 2
    # math, code and URLs are not words: the same ratio with or without them
    assert qf.length_ratio("七个汉字七个字 $a+b$ `code` https://x.org", "十个汉字十个汉字十个") == 0.7


def test_under_075_and_under_06_of_the_reference() -> None:
    ref = "十个汉字十个汉字十个"
    units = [
        qf.Output("short", "Ten words of English here.", "七个汉字七个字", [], reference=ref),  # 0.7
        qf.Output("shorter", "Ten words of English here.", "五个汉字五", [], reference=ref),  # 0.5
        qf.Output("full", "Ten words of English here.", "八个汉字八个汉字", [], reference=ref),  # 0.8: not short
        qf.Output("no-ref", "Ten words of English here.", "一", [], reference="$x$"),  # no words: not judged
    ]
    rows = qf.figures(qf.Run(units, []))
    faithful = rows["faithfulness: units"]
    assert faithful["under 0.75 of the reference's length (target <= 5 %)"] == "2 of 3 (66.7 %)"
    assert faithful["under 0.6 of the reference's length (target 0)"] == "1 of 3 (33.3 %)"
    assert rows[qf.EXAMPLES]["units: the 5 shortest (length ratio)"] == "shorter 0.50, short 0.70, full 0.80"


# -- emphasis -------------------------------------------------------------------------------------------------------
def test_asterisks_inside_math_code_and_bullets_are_not_emphasis() -> None:
    output = "**粗体** 与 $a*b$、$$x**2$$、`f(*args, **kw)` 以及 a * b\n* 列表项"
    assert qf.emphasis_counts(output) == (2, 0)
    assert qf.emphasis_faults("Some **bold** text.", output) == set()


def test_odd_strong_and_changed_count_are_faults() -> None:
    assert qf.emphasis_faults("Some **bold** text.", "一些**粗体文字。") == {"odd_strong", "strong_changed"}
    assert qf.emphasis_faults("An *emphasis* here.", "一个*强调。") == {"odd_em"}
    assert qf.emphasis_faults("Some **bold** text.", "一些粗体文字。") == {"strong_changed"}
    # odd in the source already: the output is not blamed for it
    assert qf.emphasis_faults("A lone *star.", "一个*星号。") == set()


# -- touching formulas ----------------------------------------------------------------------------------------------
def test_touching_formulas_counted_by_contact_and_not_for_display_math() -> None:
    assert qf.touching_count("误差 $a$$b$ 很小") == 1
    assert qf.touching_count("末尾 $a$$b$$c$") == 2
    assert qf.touching_count("$$x + y$$") == 0
    assert qf.touching_count("$$a$$ and $$b$$") == 0
    assert qf.touching_count("$$\na$$b\n$$") == 0
    assert qf.touching_count("$a$ $b$ and `$a$$b$`") == 0


def test_touching_formulas_counted_only_when_not_in_the_source() -> None:
    source = "We write $a$$b$ for the pair and $c$ alone."
    same = qf.Output("u1", source, "我们把这对写作 $a$$b$，$c$ 单独写。", [])
    piled = qf.Output("u2", SOURCE, "损失取决于权重和偏置。我们最小化它。$L$$w$$b$", [])
    rows = qf.figures(qf.Run([same, piled], []))["faithfulness: units"]
    assert rows["touching formulas not in the source (target 0)"] == "2"


# -- re-mask and re-validate ------------------------------------------------------------------------------------------
def test_remask_longest_original_first_and_equal_ones_in_order() -> None:
    placeholders = {"⟦1⟧": "$x$", "⟦2⟧": "$x_1$", "⟦3⟧": "$x$"}
    assert qf.remask("先 $x$，再 $x_1$，后 $x$", placeholders) == "先 ⟦1⟧，再 ⟦2⟧，后 ⟦3⟧"
    assert qf.remask("只有 $x$ 和 $x_1$", placeholders) is None


def test_revalidation_flags_placeholder_numbers_and_a_displaced_pile() -> None:
    pile = "损失 1 取决于权重 2 和偏置 3。我们在整个训练集上最小化它。$L$$w$$b$"
    checked = qf.revalidate(SOURCE, [_segment(SOURCE, pile)], label="u:")
    assert checked.judged == 1
    assert checked.reasons["placeholder_number"] == 1
    assert checked.reasons["placeholders_displaced"] == 1
    assert checked.examples["placeholder_number"] == ["u:s0"]


def test_revalidation_passes_a_faithful_translation_and_counts_what_it_cannot_judge() -> None:
    good = "损失$L$取决于权重$w$和偏置$b$。我们在整个训练集上最小化它。"
    assert qf.revalidate(SOURCE, [_segment(SOURCE, good)]).reasons == {}
    lost = "损失取决于权重$w$和偏置$b$。我们在整个训练集上最小化它。"  # $L$ is not there: cannot be re-masked
    checked = qf.revalidate(SOURCE, [_segment(SOURCE, lost), _segment("Another text.", good, seg_id="s0")])
    assert (checked.judged, checked.not_remaskable, checked.unmatched) == (0, 1, 1)
    assert qf.revalidate(SOURCE, [_segment(SOURCE, SOURCE, status="fallback")]).judged == 0


def test_table_puts_runs_side_by_side() -> None:
    before = qf.Run([qf.Output("u1", SOURCE, "损失 1 取决于。$L$$w$$b$", [], reference="损失取决于权重和偏置。")], [])
    after = qf.Run([qf.Output("u1", SOURCE, "损失$L$取决于权重$w$和偏置$b$。", [], reference="损失取决于权重和偏置。")], [])
    printed = qf.table([("before", qf.figures(before)), ("after", qf.figures(after))])
    row = next(line for line in printed.splitlines() if line.startswith("touching formulas not in the source"))
    assert [cell.strip() for cell in row.split("|")[1:]] == ["2", "0"]


# -- bench_quality.py's command line ----------------------------------------------------------------------------------
def _bench_quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_quality", _PATH.parent / "bench_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_dev_data_exits_2_with_the_folder_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench_quality()
    missing = tmp_path / "no-dev"
    assert bench.main(["--dev", str(missing)]) == 2
    old_run = tmp_path / "old.json"  # the format before sources were kept: they come from --dev
    old_run.write_text('{"outputs": [{"id": "u1", "markdown": "你好", "segments": []}]}', encoding="utf-8")
    assert bench.main(["--dev", str(missing), "--rescore", str(old_run)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err


def test_rescore_reads_back_what_a_run_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench_quality()
    run = qf.Run(
        [qf.Output("u1", SOURCE, "损失 1 取决于。$L$$w$$b$", [_segment(SOURCE, "损失 1 取决于。$L$$w$$b$")],
                   reference="损失取决于权重和偏置。", seconds=1.5)],
        [qf.Output("a__doc.md", SOURCE, "损失$L$取决于权重$w$和偏置$b$。", [], seconds=2.0)],
        units_seconds=1.5,
        docs_seconds=2.0,
    )
    saved = tmp_path / "after.json"
    saved.write_text(json.dumps(bench.run_to_json(run)), encoding="utf-8")
    assert bench.main(["--dev", str(tmp_path / "no-dev"), "--rescore", str(saved)]) == 0
    printed = capsys.readouterr().out
    assert "doc (its own request)" in printed and "2.0 s" in printed
    assert qf.figures(bench.run_from_json(bench.run_to_json(run), tmp_path)) == qf.figures(run)
