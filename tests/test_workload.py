"""ViT presets expand into the right GEMMs; counts and MACs match published figures."""

from __future__ import annotations

import pytest

from simulator.config.loader import load_workload
from simulator.workload.gemm import Gemm
from simulator.workload.vit import vit_gemms


def test_vit_base_16_total_macs():
    # 17.56 GMAC is the usual ViT-B/16 figure at 224x224 (e.g. fvcore's count); by hand:
    # per block qkv 197*768*2304 + proj 197*768*768 + fc1 + fc2 2*197*768*3072
    # + qk, av 2 * 12*197*197*64 = 1,453,954,560; x12 + patch 196*768*768 + head 768*1000
    wl = load_workload("vit_base_16")
    assert wl.macs == 12 * 1_453_954_560 + 115_605_504 + 768_000 == 17_563_828_224
    assert wl.macs == pytest.approx(17.56e9, rel=0.005)


def test_vit_base_16_block_shapes():
    gemms = {g.name: g for g in load_workload("vit_base_16").gemms}
    assert gemms["patch_embed"] == Gemm("patch_embed", "patch_embed", 196, 768, 768)
    assert gemms["block0.qkv"] == Gemm("block0.qkv", "qkv", 197, 768, 2304)
    assert gemms["block0.qk"] == Gemm("block0.qk", "qk", 197, 64, 197, 12)
    assert gemms["block0.av"] == Gemm("block0.av", "av", 197, 197, 64, 12)
    assert gemms["block11.proj"] == Gemm("block11.proj", "proj", 197, 768, 768)
    assert gemms["block5.fc1"] == Gemm("block5.fc1", "fc1", 197, 768, 3072)
    assert gemms["block5.fc2"] == Gemm("block5.fc2", "fc2", 197, 3072, 768)
    assert gemms["head"] == Gemm("head", "head", 1, 768, 1000)
    names = [g.name for g in load_workload("vit_base_16").gemms]
    assert names[:7] == [
        "patch_embed",
        "block0.qkv",
        "block0.qk",
        "block0.av",
        "block0.proj",
        "block0.fc1",
        "block0.fc2",
    ]
    assert len(names) == 1 + 12 * 6 + 1 and names[-1] == "head"


@pytest.mark.parametrize(
    "name,gmacs",
    [("vit_tiny_16", 1.25), ("vit_small_16", 4.60), ("vit_large_16", 61.55), ("vit_huge_14", 167.3)],
)
def test_other_presets(name, gmacs):
    # published GFLOPs (= GMACs) at 224: DeiT-Ti 1.3, DeiT-S 4.6, ViT-L/16 61.6, ViT-H/14 167.4
    assert load_workload(name).macs / 1e9 == pytest.approx(gmacs, rel=0.005)


def test_batch_scales_rows_and_head_counts():
    one = vit_gemms(image_size=32, patch_size=16, channels=3, hidden=8, depth=1, heads=2, mlp_ratio=2, classes=10)
    two = vit_gemms(
        image_size=32, patch_size=16, channels=3, hidden=8, depth=1, heads=2, mlp_ratio=2, classes=10, batch=2
    )
    by = {g.name: g for g in two}
    # 4 patches + class token = 5 tokens; batch 2 -> 10 rows; attention per (head, image)
    assert by["block0.qkv"].m == 10 and by["block0.qk"].count == 4 and by["block0.qk"].m == 5
    assert by["block0.fc1"].n == 16 and by["head"].m == 2 and by["patch_embed"].m == 8
    assert sum(g.macs for g in two) == 2 * sum(g.macs for g in one)


def test_gemm_rejects_non_positive():
    with pytest.raises(ValueError, match="M must be a positive integer"):
        Gemm("x", "other", 0, 1, 1)
