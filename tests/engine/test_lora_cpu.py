"""The grouped CPU LoRA kernels agree with vLLM's own, and treat index -1 as "no adapter"."""

from __future__ import annotations

import pytest
import torch

from papertrans.server.engine import lora_cpu as fast

torch_ops = pytest.importorskip("vllm.lora.ops.torch_ops")

T, IN, R, OUT, SLOTS = 12, 64, 8, 48, 3


def tensors(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, IN, generator=g).to(torch.bfloat16)
    a = torch.randn(SLOTS, 1, R, IN, generator=g).to(torch.bfloat16)
    b = torch.randn(SLOTS, 1, OUT, R, generator=g).to(torch.bfloat16)
    return x, a, b


@pytest.mark.parametrize("indices", [[1] * T, [0, 2, 1, 1, 0, 2, 2, 0, 1, 0, 2, 1]])
def test_matches_vllm_when_every_token_has_an_adapter(indices: list[int]) -> None:
    x, a, b = tensors(0)
    idx = torch.tensor(indices)
    ys = [torch.zeros(T, R) for _ in range(2)]
    torch_ops.bgmv_shrink(x, a, ys[0], idx, 0.5)
    fast.bgmv_shrink(x, a, ys[1], idx, 0.5)
    torch.testing.assert_close(ys[0], ys[1], rtol=1e-2, atol=1e-2)
    for add in (True, False):
        outs = [torch.ones(T, OUT, dtype=torch.bfloat16) for _ in range(2)]
        torch_ops.bgmv_expand(ys[0], b, outs[0], idx, add)
        fast.bgmv_expand(ys[0], b, outs[1], idx, add)
        torch.testing.assert_close(outs[0], outs[1], rtol=2e-2, atol=5e-2)
        wide = [torch.ones(T, OUT + 16, dtype=torch.bfloat16) for _ in range(2)]
        torch_ops.bgmv_expand_slice(ys[0], b, wide[0], idx, 8, OUT, add)
        fast.bgmv_expand_slice(ys[0], b, wide[1], idx, 8, OUT, add)
        torch.testing.assert_close(wide[0], wide[1], rtol=2e-2, atol=5e-2)


def test_prefill_variant_expands_one_index_per_sequence() -> None:
    x, a, _ = tensors(1)
    seq_idx, seq_len = torch.tensor([2, 0]), torch.tensor([5, T - 5])
    ys = [torch.zeros(T, R) for _ in range(2)]
    torch_ops.sgmv_shrink(x, a, ys[0], torch.tensor([0, 5]), seq_len, seq_idx, 2, T - 5, T, 1.0)
    fast._FAST["sgmv_shrink"](x, a, ys[1], torch.tensor([0, 5]), seq_len, seq_idx, 2, T - 5, T, 1.0)
    torch.testing.assert_close(ys[0], ys[1], rtol=1e-2, atol=1e-2)


def test_tokens_without_adapter_get_no_contribution() -> None:
    x, a, b = tensors(2)
    idx = torch.tensor([-1, 1] * (T // 2))
    y = torch.full((T, R), 7.0)  # stale data in the buffer must not leak into base rows
    fast.bgmv_shrink(x, a, y, idx, 1.0)
    assert torch.all(y[0::2] == 0) and torch.any(y[1::2] != 0)
    out = torch.ones(T, OUT, dtype=torch.bfloat16)
    fast.bgmv_expand(y, b, out, idx, True)
    assert torch.all(out[0::2] == 1) and torch.any(out[1::2] != 1)
    all_base = torch.full((T,), -1)
    out2 = torch.ones(T, OUT, dtype=torch.bfloat16)
    fast.bgmv_expand(y, b, out2, all_base, True)
    assert torch.all(out2 == 1)


def test_install_swaps_the_cpu_wrapper_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from vllm.lora.punica_wrapper import punica_cpu

    for name in fast._FAST:
        monkeypatch.setattr(punica_cpu, name, getattr(punica_cpu, name))  # restored after the test
    assert fast.install()
    assert punica_cpu.bgmv_shrink is fast.bgmv_shrink
    assert torch_ops.bgmv_shrink is not fast.bgmv_shrink
