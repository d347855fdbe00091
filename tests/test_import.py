"""`abftsim import-model`: timm / Hugging Face ViT and DeiT checkpoints against timm's own logits (no torch here).

The fixtures (tests/data/vit_fixtures, scripts/make_vit_fixtures.py) are tiny seeded timm models:
a VisionTransformer saved as safetensors and a distilled DeiT saved by torch.save, 48 inputs and
timm's eval-mode logits.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simulator import cli
from simulator.config.loader import load_hw
from simulator.functional.accelerator import FunctionalAccelerator
from simulator.functional.bundle import Split, load_bundle, load_images
from simulator.functional.checkpoint import read_tensors
from simulator.functional.importer import convert
from simulator.functional.vit import erf, forward, predictions

DATA = Path(__file__).parent / "data" / "vit_fixtures"
MODELS = {"vit": "vit.safetensors", "deit": "deit.pth"}


def _fixture(name: str):
    tensors = read_tensors(DATA / MODELS[name])
    config = json.loads((DATA / f"{name}_config.json").read_text())
    data = load_images(DATA / f"{name}_io.npz")
    with np.load(DATA / f"{name}_io.npz") as io_:
        logits = io_["logits"]
    return tensors, config, data, logits


def test_fixtures_stay_small():
    assert sum(f.stat().st_size for f in DATA.iterdir()) < 600_000


@pytest.mark.parametrize("name", list(MODELS))
def test_float_logits_match_timm_and_int8_agrees_on_the_argmax(name):
    tensors, config, data, timm_logits = _fixture(name)
    calibration = Split("calibration", data.images[:24], data.labels[:24], data.index[:24])
    params = convert(tensors, config, calibration)
    assert params.config.distilled == (name == "deit") and params.config.gelu == "erf"
    ours = forward(params, data.inputs())
    np.testing.assert_allclose(ours, timm_logits, atol=2e-5, rtol=1e-5)
    acc = FunctionalAccelerator(load_hw("edge_32x32"), params.config.gemms(len(data)))
    int8 = predictions(forward(params, data.inputs(), acc))
    # labels are timm's argmax; int8 rounding flips only near-ties (measured: 48/48 ViT, 44/48 DeiT)
    assert np.mean(int8 == data.labels) >= 0.85


def _to_hugging_face(t: dict[str, np.ndarray], distilled: bool) -> dict[str, np.ndarray]:
    """The timm tensors under Hugging Face's names (ViTForImageClassification /
    DeiTForImageClassificationWithTeacher), q, k and v split out of timm's fused qkv."""
    root = "deit" if distilled else "vit"
    emb = f"{root}.embeddings"
    out = {f"{emb}.cls_token": t["cls_token"], f"{emb}.position_embeddings": t["pos_embed"],
           f"{emb}.patch_embeddings.projection.weight": t["patch_embed.proj.weight"],
           f"{emb}.patch_embeddings.projection.bias": t["patch_embed.proj.bias"],
           f"{root}.layernorm.weight": t["norm.weight"], f"{root}.layernorm.bias": t["norm.bias"]}  # fmt: skip
    if distilled:
        out |= {f"{emb}.distillation_token": t["dist_token"], "cls_classifier.weight": t["head.weight"],
                "cls_classifier.bias": t["head.bias"], "distillation_classifier.weight": t["head_dist.weight"],
                "distillation_classifier.bias": t["head_dist.bias"]}  # fmt: skip
    else:
        out |= {"classifier.weight": t["head.weight"], "classifier.bias": t["head.bias"]}
    depth = len({k.split(".")[1] for k in t if k.startswith("blocks.")})
    for i in range(depth):
        p, b = f"{root}.encoder.layer.{i}", f"blocks.{i}"
        for part, w, bias in zip(("query", "key", "value"), np.split(t[f"{b}.attn.qkv.weight"], 3),
                                 np.split(t[f"{b}.attn.qkv.bias"], 3), strict=True):  # fmt: skip
            out |= {f"{p}.attention.attention.{part}.weight": w, f"{p}.attention.attention.{part}.bias": bias}
        for hf, tm in (
            ("layernorm_before", "norm1"),
            ("attention.output.dense", "attn.proj"),
            ("layernorm_after", "norm2"),
            ("intermediate.dense", "mlp.fc1"),
            ("output.dense", "mlp.fc2"),
        ):
            out |= {f"{p}.{hf}.weight": t[f"{b}.{tm}.weight"], f"{p}.{hf}.bias": t[f"{b}.{tm}.bias"]}  # fmt: skip
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_hugging_face_names_give_the_same_logits(name):
    tensors, config, data, timm_logits = _fixture(name)
    hf = _to_hugging_face(tensors, name == "deit")
    hf_config = {"num_attention_heads": config["num_heads"], "layer_norm_eps": 1e-6, "hidden_act": "gelu"}
    params = convert(hf, hf_config, data)
    np.testing.assert_allclose(forward(params, data.inputs()), timm_logits, atol=2e-5, rtol=1e-5)
    tanh = convert(hf, {**hf_config, "hidden_act": "gelu_pytorch_tanh"}, data)
    assert tanh.config.gelu == "tanh"
    with pytest.raises(ValueError, match="number of heads"):
        convert(hf, {}, data)


def test_erf_approximation_is_within_its_bound():
    import math

    x = np.linspace(-6, 6, 2001)
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf(x) - ref)) <= 1.5e-7


def test_safetensors_reader_decodes_every_float_type(tmp_path):
    # hand-built file: bf16 0x3FC0 = 1.5 (sign 0, exponent 127, mantissa .1b), f16 0x4000 = 2.0
    tensors = {"a": ("BF16", [2], struct.pack("<2H", 0x3FC0, 0xBF80)), "b": ("F16", [1], struct.pack("<e", 2.0)),
               "c": ("F32", [2, 1], struct.pack("<2f", 0.25, -3.0))}  # fmt: skip
    header, blob, offset = {"__metadata__": {"format": "pt"}}, b"", 0
    for key, (dtype, shape, raw) in tensors.items():
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blob, offset = blob + raw, offset + len(raw)
    text = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob)
    got = read_tensors(path)
    assert got["a"].tolist() == [1.5, -1.0] and got["b"].tolist() == [2.0] and got["c"].tolist() == [[0.25], [-3.0]]
    assert all(v.dtype == np.float32 for v in got.values())


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_torch_zip_reader_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(ValueError, match="refusing global"):
        read_tensors(path)


def test_cli_import_then_accuracy_on_user_data(tmp_path, capsys):
    bundle = tmp_path / "deit_bundle.npz"
    argv = ["import-model", str(DATA / "deit.pth"), "--config", str(DATA / "deit_config.json"),
            "--calibration", str(DATA / "deit_io.npz"), "--out", str(bundle)]  # fmt: skip
    assert cli.main(argv) == 0
    assert "distilled, GELU erf" in capsys.readouterr().out
    loaded = load_bundle(bundle)
    assert loaded.name == "deit"  # the checkpoint's stem
    assert list(loaded.splits) == ["calibration"] and loaded.recorded["calibration_int8_accuracy"] >= 0.85
    report = tmp_path / "acc.json"
    assert cli.main(["accuracy", "--model", str(bundle), "--data", str(DATA / "deit_io.npz"), "--ber", "1e-5",
                     "--trials", "1", "--policy", "abft", "--json", str(report), "--quiet"]) == 0  # fmt: skip
    data = json.loads(report.read_text())
    assert data["model"]["name"] == "deit" and data["images"] == 48 and data["split"] == "data"
    wrong = io.BytesIO()
    np.savez(wrong, images=np.zeros((2, 3, 8, 8), np.float32), labels=np.zeros(2, np.int64))
    (tmp_path / "small.npz").write_bytes(wrong.getvalue())
    assert cli.main(["accuracy", "--model", str(bundle), "--data", str(tmp_path / "small.npz"), "--quiet"]) == 2
    assert "--data: images are (3, 8, 8), the model takes (3, 16, 16)" in capsys.readouterr().err
