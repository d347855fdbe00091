"""timm and Hugging Face ViT / DeiT checkpoints -> the model bundle: weights renamed, static int8 scales calibrated.

Hyper-parameters come from the tensors' shapes (hidden size from the class token, depth from the
block count, patch size and channels from the patch projection, MLP width, classes, tokens from
the position embeddings) except the number of heads, which only the config says (timm
`num_heads`, Hugging Face `num_attention_heads`). Variants: a distillation token and head (timm
`VisionTransformerDistilled`, Hugging Face `DeiTForImageClassificationWithTeacher`: logits = mean
of both heads), GELU exact (timm's nn.GELU, Hugging Face `gelu`) or tanh (`gelu_new`,
`gelu_pytorch_tanh`), LayerNorm eps (timm 1e-6, Hugging Face `layer_norm_eps`). Checkpoints with
parts this numpy ViT does not model (layer scale, q/k norms, register tokens, average pooling
with fc_norm) are refused by name. Linear weights are stored out x in by both libraries and
K x N (in x out) here; the patch convolution (D, c, p, p) becomes the (c p p) x D GEMM in
`vit.patchify`'s (c, py, px) order; Hugging Face's separate q, k, v become one qkv GEMM whose
columns are (q | k | v), each split into heads, as timm lays them out.

Static scales: max |x| / 127 of every GEMM operand over a float forward pass of the calibration
images (vit.ScaleRecorder), as for the bundled model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from simulator.config.schema import HwConfig
from simulator.functional.bundle import Split, bundle_arrays
from simulator.functional.inference import evaluate, float_accuracy
from simulator.functional.vit import ScaleRecorder, VitConfig, VitWeights, forward

_UNSUPPORTED = ("ls1.", "ls2.", "q_norm", "k_norm", "reg_token", "fc_norm.weight", "attn_pool", "lambda1")
_HF_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def convert(tensors: Mapping[str, np.ndarray], config: Mapping[str, Any], calibration: Split) -> VitWeights:
    """A VitWeights with calibrated int8 scales from a timm or Hugging Face state dict and its config."""
    flavour = _flavour(tensors)
    bad = sorted(k for k in tensors if any(u in k for u in _UNSUPPORTED))
    if bad:
        raise ValueError(f"unsupported ViT variant: tensor {bad[0]!r} (layer scale, q/k norm, registers, pooling)")
    weights, cfg = _timm(tensors, config) if flavour == "timm" else _hugging_face(tensors, config)
    unscaled = VitWeights(cfg, weights, np.ones(len(cfg.gemms(1))), np.ones(len(cfg.gemms(1))))
    recorder = ScaleRecorder(len(cfg.gemms(1)))
    forward(unscaled, calibration.inputs(), recorder)
    a_scales, b_scales = recorder.scales()
    return VitWeights(cfg, weights, a_scales, b_scales)


def _flavour(tensors: Mapping[str, np.ndarray]) -> str:
    if "blocks.0.attn.qkv.weight" in tensors:
        return "timm"
    if any(re.match(r"(vit|deit)\.encoder\.layer\.0\.", k) for k in tensors):
        return "hf"
    raise ValueError("not a timm or Hugging Face ViT/DeiT state dict (no blocks.0.attn.qkv / encoder.layer.0)")


def _heads(config: Mapping[str, Any], *keys: str) -> int:
    for key in keys:
        if key in config:
            return int(config[key])
    raise ValueError(f"the config must give the number of heads ({' or '.join(keys)})")


def _geometry(pos: np.ndarray, proj: np.ndarray, distilled: bool) -> tuple[int, int, int]:
    """(image size, patch size, channels) from the position embeddings and the patch convolution."""
    _, channels, patch, patch_w = proj.shape
    grid = math.isqrt(pos.shape[-2] - 1 - int(distilled))
    if patch != patch_w or grid * grid != pos.shape[-2] - 1 - int(distilled):
        raise ValueError(f"square patches on a square grid expected: patch {proj.shape}, positions {pos.shape}")
    return grid * patch, patch, channels


def _linear(w: np.ndarray) -> np.ndarray:
    """out x in (torch.nn.Linear) -> K x N."""
    return np.ascontiguousarray(np.asarray(w, np.float32).T)


def _vec(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).reshape(-1)


def _timm(t: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], VitConfig]:
    distilled = "dist_token" in t
    depth = len({k.split(".")[1] for k in t if k.startswith("blocks.")})
    proj = t["patch_embed.proj.weight"]
    image, patch, channels = _geometry(t["pos_embed"], proj, distilled)
    hidden, mlp = proj.shape[0], t["blocks.0.mlp.fc1.weight"].shape[0]
    cfg = VitConfig(image_size=image, patch_size=patch, channels=channels, hidden=hidden, depth=depth,
                    heads=_heads(config, "num_heads", "heads"), mlp_ratio=mlp / hidden,
                    classes=t["head.weight"].shape[0], distilled=distilled, gelu="erf",
                    ln_eps=float(config.get("layer_norm_eps", 1e-6)))  # fmt: skip
    w = {
        "patch_embed.weight": _linear(proj.reshape(hidden, -1)), "patch_embed.bias": _vec(t["patch_embed.proj.bias"]),
        "cls_token": _vec(t["cls_token"]), "pos_embed": np.asarray(t["pos_embed"], np.float32).reshape(cfg.tokens, -1),
        "norm.weight": _vec(t["norm.weight"]), "norm.bias": _vec(t["norm.bias"]),
        "head.weight": _linear(t["head.weight"]), "head.bias": _vec(t["head.bias"]),
    }  # fmt: skip
    if distilled:
        w |= {"dist_token": _vec(t["dist_token"]), "head_dist.weight": _linear(t["head_dist.weight"]),
              "head_dist.bias": _vec(t["head_dist.bias"])}  # fmt: skip
    ours = {"ln1": "norm1", "qkv": "attn.qkv", "proj": "attn.proj", "ln2": "norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}
    for i in range(depth):
        for mine, theirs in ours.items():
            weight, bias = t[f"blocks.{i}.{theirs}.weight"], t[f"blocks.{i}.{theirs}.bias"]
            w[f"block{i}.{mine}.weight"] = _vec(weight) if mine.startswith("ln") else _linear(weight)
            w[f"block{i}.{mine}.bias"] = _vec(bias)
    return w, cfg


def _hugging_face(t: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], VitConfig]:
    root = "deit" if any(k.startswith("deit.") for k in t) else "vit"
    emb = f"{root}.embeddings"
    distilled = f"{emb}.distillation_token" in t
    if root == "deit" and not distilled:
        raise ValueError("a Hugging Face DeiT needs its distillation token and both classifiers (WithTeacher)")
    if distilled and "cls_classifier.weight" not in t:
        raise ValueError("a distilled DeiT needs cls_classifier and distillation_classifier (WithTeacher)")
    depth = len({k.split(".")[3] for k in t if k.startswith(f"{root}.encoder.layer.")})
    proj = t[f"{emb}.patch_embeddings.projection.weight"]
    image, patch, channels = _geometry(t[f"{emb}.position_embeddings"], proj, distilled)
    hidden = proj.shape[0]
    layer0 = f"{root}.encoder.layer.0"
    act = str(config.get("hidden_act", "gelu"))
    head = "cls_classifier" if distilled else "classifier"
    cfg = VitConfig(image_size=image, patch_size=patch, channels=channels, hidden=hidden, depth=depth,
                    heads=_heads(config, "num_attention_heads"),
                    mlp_ratio=t[f"{layer0}.intermediate.dense.weight"].shape[0] / hidden,
                    classes=t[f"{head}.weight"].shape[0], distilled=distilled,
                    gelu="tanh" if act in _HF_TANH else "erf",
                    ln_eps=float(config.get("layer_norm_eps", 1e-12)))  # fmt: skip
    w = {
        "patch_embed.weight": _linear(proj.reshape(hidden, -1)),
        "patch_embed.bias": _vec(t[f"{emb}.patch_embeddings.projection.bias"]),
        "cls_token": _vec(t[f"{emb}.cls_token"]),
        "pos_embed": np.asarray(t[f"{emb}.position_embeddings"], np.float32).reshape(cfg.tokens, -1),
        "norm.weight": _vec(t[f"{root}.layernorm.weight"]), "norm.bias": _vec(t[f"{root}.layernorm.bias"]),
        "head.weight": _linear(t[f"{head}.weight"]), "head.bias": _vec(t[f"{head}.bias"]),
    }  # fmt: skip
    if distilled:
        w |= {"dist_token": _vec(t[f"{emb}.distillation_token"]),
              "head_dist.weight": _linear(t["distillation_classifier.weight"]),
              "head_dist.bias": _vec(t["distillation_classifier.bias"])}  # fmt: skip
    for i in range(depth):
        p, q = f"{root}.encoder.layer.{i}", f"block{i}"
        att = f"{p}.attention.attention"
        w[f"{q}.qkv.weight"] = np.concatenate([_linear(t[f"{att}.{x}.weight"]) for x in ("query", "key", "value")], 1)
        w[f"{q}.qkv.bias"] = np.concatenate([_vec(t[f"{att}.{x}.bias"]) for x in ("query", "key", "value")])
        pairs = {"ln1": "layernorm_before", "proj": "attention.output.dense", "ln2": "layernorm_after",
                 "fc1": "intermediate.dense", "fc2": "output.dense"}  # fmt: skip
        for mine, theirs in pairs.items():
            weight = t[f"{p}.{theirs}.weight"]
            w[f"{q}.{mine}.weight"] = _vec(weight) if mine.startswith("ln") else _linear(weight)
            w[f"{q}.{mine}.bias"] = _vec(t[f"{p}.{theirs}.bias"])
    return w, cfg


def import_bundle(
    tensors: Mapping[str, np.ndarray], config: Mapping[str, Any], calibration: Split, hw: HwConfig, name: str
) -> tuple[VitWeights, dict[str, np.ndarray], dict[str, float]]:
    """Convert, calibrate and measure: the weights, the bundle's arrays (its calibration split is
    `calibration`) and what was recorded (float and int8 top-1 accuracy on the calibration split)."""
    split = Split("calibration", calibration.images, calibration.labels, calibration.index)
    params = convert(tensors, config, split)
    int8 = evaluate(params, split, hw)
    recorded = {"calibration_size": float(len(split)), "calibration_float_accuracy": float_accuracy(params, split),
                "calibration_int8_accuracy": int8.accuracy,
                "calibration_int8_correct": float(int8.correct)}  # fmt: skip
    return params, bundle_arrays(params, {"calibration": split}, recorded, name), recorded
