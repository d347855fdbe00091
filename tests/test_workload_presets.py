"""The ViT family as presets: DeiT (distillation token), Swin (window attention, patch merging),
ViT-B/16 at 384, and batch > 1; MACs against published figures, shapes worked out by hand."""

from __future__ import annotations

import pytest

from simulator.config.loader import bundled_names, load_workload, read_yaml, resolve
from simulator.errors import ConfigError
from simulator.workload.gemm import Gemm
from simulator.workload.swin import swin_gemms

# (preset, published GMACs, digits after the point in the published figure); sources in each YAML
PUBLISHED = [
    ("vit_tiny_16", 1.3, 1),
    ("vit_small_16", 4.6, 1),
    ("vit_base_16", 17.56, 2),
    ("vit_large_16", 61.55, 2),
    ("deit_tiny_distilled", 1.3, 1),
    ("deit_small_distilled", 4.6, 1),
    ("deit_base_distilled", 17.7, 1),
    ("swin_tiny", 4.5, 1),
    ("swin_small", 8.7, 1),
    ("swin_base", 15.4, 1),
    ("vit_base_16_384", 55.4, 1),
]


@pytest.mark.parametrize("name,published,digits", PUBLISHED)
def test_preset_macs_match_the_published_figure(name, published, digits):
    """Within 1 %, or (only for a figure too coarse for that: ViT-Ti / DeiT-Ti's 1.3) inside its rounding interval."""
    gmacs = load_workload(name).macs / 1e9
    tolerance = max(0.01 * published, 0.5 * 10**-digits)
    assert abs(gmacs - published) <= tolerance


def test_every_published_preset_is_within_one_percent_but_the_tiny_ones():
    off = {name: abs(load_workload(name).macs / 1e9 / pub - 1) for name, pub, _ in PUBLISHED}
    assert {name for name, rel in off.items() if rel > 0.01} == {"vit_tiny_16", "deit_tiny_distilled"}
    assert off["deit_tiny_distilled"] < 0.031  # 1.261 vs 1.3: inside [1.25, 1.35)
    assert off["vit_tiny_16"] < 0.036  # 1.254 vs 1.3: inside [1.25, 1.35)


def test_deit_distillation_token_makes_198_tokens_and_a_second_head():
    by = {g.name: g for g in load_workload("deit_base_distilled").gemms}
    assert by["block0.qkv"] == Gemm("block0.qkv", "qkv", 198, 768, 2304)
    assert by["block11.qk"] == Gemm("block11.qk", "qk", 198, 64, 198, 12)
    assert by["block11.av"] == Gemm("block11.av", "av", 198, 198, 64, 12)
    assert by["patch_embed"] == Gemm("patch_embed", "patch_embed", 196, 768, 768)
    assert by["head"] == Gemm("head", "head", 1, 768, 1000)
    assert by["head_dist"] == Gemm("head_dist", "head", 1, 768, 1000)
    # by hand: 12 x (198*768*9216 + 2*12*198*198*64) + 196*768*768 + 2*768*1000
    assert load_workload("deit_base_distilled").macs == 12 * (1_401_421_824 + 60_217_344) + 115_605_504 + 1_536_000


def test_swin_tiny_shapes_by_hand():
    wl = load_workload("swin_tiny")
    by = {g.name: g for g in wl.gemms}
    # 224/4 = 56x56 tokens of C = 96; 7x7 windows: 64 windows x 3 heads of 32 channels
    assert by["patch_embed"] == Gemm("patch_embed", "patch_embed", 3136, 48, 96)
    assert by["stage0.block0.qkv"] == Gemm("stage0.block0.qkv", "qkv", 3136, 96, 288)
    assert by["stage0.block0.qk"] == Gemm("stage0.block0.qk", "qk", 49, 32, 49, 192)
    assert by["stage0.block1.av"] == Gemm("stage0.block1.av", "av", 49, 49, 32, 192)  # shifted: same shape
    assert by["stage0.block1.fc1"] == Gemm("stage0.block1.fc1", "fc1", 3136, 96, 384)
    # patch merging 56 -> 28: 784 tokens, 4C = 384 -> 2C = 192
    assert by["stage0.merge"] == Gemm("stage0.merge", "patch_merge", 784, 384, 192)
    # stage 2: 14x14 tokens of 384 channels, 4 windows x 12 heads
    assert by["stage2.block5.qk"] == Gemm("stage2.block5.qk", "qk", 49, 32, 49, 48)
    assert by["stage2.merge"] == Gemm("stage2.merge", "patch_merge", 49, 1536, 768)
    # stage 3: 7x7 tokens = one window, 24 heads
    assert by["stage3.block1.qk"] == Gemm("stage3.block1.qk", "qk", 49, 32, 49, 24)
    assert by["stage3.block1.fc2"] == Gemm("stage3.block1.fc2", "fc2", 49, 3072, 768)
    assert by["head"] == Gemm("head", "head", 1, 768, 1000)
    assert len(wl.gemms) == 1 + 6 * (2 + 2 + 6 + 2) + 3 + 1
    blocks = [g for g in wl.gemms if ".block" in g.name]
    shapes = {(g.name.split(".")[0], g.name.split(".")[2], g.m, g.k, g.n, g.count) for g in blocks}
    assert len(shapes) == 6 * 4  # every block of a stage, shifted or not, has the same six GEMMs


def test_swin_clips_the_window_to_a_small_grid():
    # 112/4 = 28 -> 14 -> 7 -> ... with a window of 14: stage 2 and 3 grids (7) are smaller, so one 7x7 window
    gemms = swin_gemms(image_size=112, patch_size=4, channels=3, embed_dim=32, depths=(1, 1, 1), heads=(1, 2, 4),
                       window_size=14, mlp_ratio=4.0, classes=10)  # fmt: skip
    by = {g.name: g for g in gemms}
    assert by["stage0.block0.qk"] == Gemm("stage0.block0.qk", "qk", 196, 32, 196, 4)
    assert by["stage1.block0.qk"] == Gemm("stage1.block0.qk", "qk", 196, 32, 196, 2)
    assert by["stage2.block0.qk"] == Gemm("stage2.block0.qk", "qk", 49, 32, 49, 4)


def _presets() -> list[str]:
    return [n for n in bundled_names("workloads") if {"vit", "swin"} & set(read_yaml(resolve(n, "workloads")))]


@pytest.mark.parametrize("name", _presets())
def test_batch_multiplies_every_preset(name):
    one, three = load_workload(name), load_workload(name, batch=3)
    assert three.macs == 3 * one.macs
    assert [g.name for g in three.gemms] == [g.name for g in one.gemms]
    for a, b in zip(one.gemms, three.gemms, strict=True):
        # tokens against shared weights: rows scale; per-image attention: instances scale
        assert (b.m, b.count) in ((3 * a.m, a.count), (a.m, 3 * a.count)) and (b.k, b.n) == (a.k, a.n)


def test_batch_of_a_gemm_list_is_refused():
    with pytest.raises(ConfigError, match=r"^workloads/vit_block_gemms.yaml: batch: applies to a `vit` or `swin`"):
        load_workload("vit_block_gemms", batch=2)
    with pytest.raises(ConfigError, match="batch: must be a positive integer, got 0"):
        load_workload("swin_tiny", batch=0)


@pytest.mark.parametrize(
    "swin,message",
    [
        ("{image_size: 128, embed_dim: 96, depths: [2, 2, 6, 2], heads: [3, 6, 12, 24]}",
         "swin: stage 0: the 32x32 token grid is not a multiple of the 7x7 window"),
        ("{image_size: 224, embed_dim: 96, depths: [2, 2], heads: [3, 6, 12]}",
         "swin: depths and heads must list the same number of stages, got 2 and 3"),
        ("{image_size: 224, embed_dim: 96, depths: [2, 2, 6, 2], heads: [3, 5, 12, 24]}",
         "swin: stage 1: 192 channels are not a multiple of 5 heads"),
        ("{image_size: 224, embed_dim: 96, depths: [2, 0], heads: [3, 6]}", "swin.depths.1: must be > 0, got 0"),
        ("{image_size: 224, embed_dim: 96, depths: [2], heads: [3], windows: 7}", "swin.windows: unknown key"),
    ],
)  # fmt: skip
def test_bad_swin_presets_give_one_line(tmp_path, swin, message):
    path = tmp_path / "w.yaml"
    path.write_text(f"name: w\nswin: {swin}\n")
    with pytest.raises(ConfigError) as err:
        load_workload(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)
