"""Numpy Vision Transformer inference whose every GEMM goes through a pluggable matmul (the accelerator).

Architecture (Dosovitskiy et al., ICLR 2021, pre-LN): patch embedding (a stride-p convolution as
the GEMM [P*b, c*p*p] x [c*p*p, D]), a class token, learned position embeddings, `depth` blocks of
x += proj(MHA(LN1(x))); x += fc2(GELU(fc1(LN2(x)))), a final LayerNorm and a linear head on the
class token. GELU is the tanh form (the bundled digits model) or the exact erf form (timm and
Hugging Face checkpoints), LayerNorm's eps is the config's (1e-6 by default, timm's; Hugging Face
uses 1e-12). A distilled DeiT (Touvron et al., ICML 2021) adds a distillation token after the
class token and a second head on it; its logits are the mean of both heads (timm's and Hugging
Face's inference rule).

The GEMMs are exactly those of `simulator.workload.vit.vit_gemms` with the same names, kinds and
order, so faults, thresholds and recovery costs are keyed as in a timing run: rows of batched
GEMMs are image-major (row = image * tokens + token); the per-head GEMMs qk [S, d] x [d, S] and
av [S, S] x [S, d] are `count = batch * heads` instances, instance = image * heads + head.

Every GEMM is a call `matmul(index, a, b, a_scale, b_scale)` with real-valued float32 operands
(A: activations; B: weights, or for qk / av activations too), shaped (M, K) / (K, N), or
(count, M, K) / (count, K, N); it returns the real-valued float32 product. `a_scale` / `b_scale`
are the model's static int8 scales of the operands (a real value x is stored as
clip(rint(x / scale), -127, 127)), calibrated once on the training split; `float_matmul` ignores
them (the float reference), `simulator.functional.accelerator.FunctionalAccelerator` quantises with them.
Everything outside the GEMMs runs in float32.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from simulator.faults import portable_math
from simulator.workload.gemm import Gemm
from simulator.workload.vit import vit_gemms
from simulator.workload.workload import Workload

LN_EPS = 1e-6
GELUS = ("tanh", "erf")
Matmul = Callable[[int, np.ndarray, np.ndarray, float, float], np.ndarray]


@dataclass(frozen=True, slots=True)
class VitConfig:
    """Hyper-parameters of a ViT (the same keys as a workload YAML's `vit:` section)."""

    image_size: int
    patch_size: int
    channels: int
    hidden: int
    depth: int
    heads: int
    mlp_ratio: float
    classes: int
    distilled: bool = False  # a DeiT distillation token and head
    gelu: str = "tanh"  # "tanh" approximation or exact "erf"
    ln_eps: float = LN_EPS

    def __post_init__(self) -> None:
        if self.gelu not in GELUS:
            raise ValueError(f"gelu must be one of {', '.join(GELUS)}, got {self.gelu!r}")

    @property
    def patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def tokens(self) -> int:
        return self.patches + 1 + int(self.distilled)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def mlp_hidden(self) -> int:
        return round(self.hidden * self.mlp_ratio)

    def gemms(self, batch: int) -> tuple[Gemm, ...]:
        """The GEMMs of one forward pass over `batch` images (the timing workload's list)."""
        return vit_gemms(
            image_size=self.image_size, patch_size=self.patch_size, channels=self.channels, hidden=self.hidden,
            depth=self.depth, heads=self.heads, mlp_ratio=self.mlp_ratio, classes=self.classes, batch=batch,
            distillation_token=self.distilled,
        )  # fmt: skip

    def workload(self, batch: int, name: str = "digits_vit") -> Workload:
        return Workload(f"{name}_b{batch}", self.gemms(batch))

    def to_json(self) -> str:
        return json.dumps({k: getattr(self, k) for k in self.__slots__}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VitConfig:
        return cls(**json.loads(text))


def parameter_shapes(cfg: VitConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every learned tensor; GEMM weights are stored K x N (y = x @ W + b)."""
    d, h, pp = cfg.hidden, cfg.mlp_hidden, cfg.channels * cfg.patch_size**2
    shapes: dict[str, tuple[int, ...]] = {
        "patch_embed.weight": (pp, d), "patch_embed.bias": (d,), "cls_token": (d,), "pos_embed": (cfg.tokens, d),
    }  # fmt: skip
    if cfg.distilled:
        shapes["dist_token"] = (d,)
    for i in range(cfg.depth):
        p = f"block{i}"
        shapes |= {
            f"{p}.ln1.weight": (d,), f"{p}.ln1.bias": (d,), f"{p}.qkv.weight": (d, 3 * d), f"{p}.qkv.bias": (3 * d,),
            f"{p}.proj.weight": (d, d), f"{p}.proj.bias": (d,), f"{p}.ln2.weight": (d,), f"{p}.ln2.bias": (d,),
            f"{p}.fc1.weight": (d, h), f"{p}.fc1.bias": (h,), f"{p}.fc2.weight": (h, d), f"{p}.fc2.bias": (d,),
        }  # fmt: skip
    shapes |= {"norm.weight": (d,), "norm.bias": (d,), "head.weight": (d, cfg.classes), "head.bias": (cfg.classes,)}
    if cfg.distilled:
        shapes |= {"head_dist.weight": (d, cfg.classes), "head_dist.bias": (cfg.classes,)}
    return shapes


@dataclass(frozen=True)
class VitWeights:
    """A ViT's weights (float32) and the static int8 scales of every GEMM's operands (by GEMM index)."""

    config: VitConfig
    weights: Mapping[str, np.ndarray]
    a_scales: np.ndarray  # (n_gemms,) float64
    b_scales: np.ndarray

    def __post_init__(self) -> None:
        for name, shape in parameter_shapes(self.config).items():
            if name not in self.weights:
                raise ValueError(f"missing weight {name!r}")
            if tuple(self.weights[name].shape) != shape:
                raise ValueError(f"weight {name!r} has shape {self.weights[name].shape}, expected {shape}")
        n = len(self.config.gemms(1))
        if self.a_scales.shape != (n,) or self.b_scales.shape != (n,):
            raise ValueError(f"expected {n} A and B scales, got {self.a_scales.shape} and {self.b_scales.shape}")


def float_matmul(index: int, a: np.ndarray, b: np.ndarray, a_scale: float, b_scale: float) -> np.ndarray:
    """The float32 reference GEMM (no quantisation, no faults)."""
    del index, a_scale, b_scale
    return np.matmul(a, b, dtype=np.float32)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = LN_EPS) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + np.float32(eps)) * weight + bias).astype(np.float32)


def gelu(x: np.ndarray) -> np.ndarray:
    """tanh approximation of GELU (torch.nn.GELU(approximate='tanh')), evaluated in float64 with
    faults.portable_math (the same bits on every CPU; numpy's float32 tanh is CPU-specific SIMD)
    and rounded to float32 once."""
    return portable_math.gelu_tanh(x).astype(np.float32)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function to |error| <= 1.5e-7 (Abramowitz & Stegun 7.1.26), in float64 (portable_math.exp)."""
    z = np.abs(np.asarray(x, np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * portable_math.exp(-z * z))


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (torch.nn.GELU())."""
    return (0.5 * x * (1.0 + erf(np.asarray(x, np.float64) / math.sqrt(2.0)))).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 with portable_math.exp (CPU-independent bits), as float32."""
    z = np.asarray(x, np.float64)
    e = portable_math.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def patchify(images: np.ndarray, cfg: VitConfig) -> np.ndarray:
    """(B, c, H, W) or (B, H, W) images -> (B * P, c * p * p) patch rows (row-major patches)."""
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
        x = x[:, None]
    b, c, hgt, wid = x.shape
    if (c, hgt, wid) != (cfg.channels, cfg.image_size, cfg.image_size):
        raise ValueError(f"images must be {cfg.channels} x {cfg.image_size} x {cfg.image_size}, got {x.shape[1:]}")
    p, g = cfg.patch_size, cfg.image_size // cfg.patch_size
    x = x.reshape(b, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5)  # b, gy, gx, c, py, px
    return np.ascontiguousarray(x.reshape(b * g * g, c * p * p))


def forward(params: VitWeights, images: np.ndarray, matmul: Matmul = float_matmul) -> np.ndarray:
    """Logits (B, classes) of a batch of images (pixel values already normalised).

    Faulty floating-point GEMMs can produce inf / NaN; they propagate silently (no numpy warnings)
    and `predictions` counts such images as wrong."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _forward(params, images, matmul)


def _forward(params: VitWeights, images: np.ndarray, matmul: Matmul) -> np.ndarray:
    cfg, w = params.config, params.weights
    sa, sb = params.a_scales, params.b_scales
    b, s, d, heads, hd = len(images), cfg.tokens, cfg.hidden, cfg.heads, cfg.head_dim
    gi = 0

    def mm(a: np.ndarray, weight: np.ndarray) -> np.ndarray:
        nonlocal gi
        out = matmul(gi, a, weight, float(sa[gi]), float(sb[gi]))
        gi += 1
        return out

    act = gelu if cfg.gelu == "tanh" else gelu_erf
    eps = cfg.ln_eps
    tok = mm(patchify(images, cfg), w["patch_embed.weight"]) + w["patch_embed.bias"]
    names = ("cls_token", "dist_token") if cfg.distilled else ("cls_token",)
    special = [np.broadcast_to(w[k], (b, 1, d)) for k in names]
    x = (np.concatenate([*special, tok.reshape(b, cfg.patches, d)], axis=1) + w["pos_embed"]).astype(np.float32)
    inv_sqrt = np.float32(1.0 / math.sqrt(hd))
    for i in range(cfg.depth):
        p = f"block{i}"
        h = layer_norm(x, w[f"{p}.ln1.weight"], w[f"{p}.ln1.bias"], eps).reshape(b * s, d)
        qkv = (mm(h, w[f"{p}.qkv.weight"]) + w[f"{p}.qkv.bias"]).reshape(b, s, 3, heads, hd)
        q, k, v = (np.ascontiguousarray(qkv[:, :, j].transpose(0, 2, 1, 3).reshape(b * heads, s, hd)) for j in range(3))
        scores = mm(q, np.ascontiguousarray(k.transpose(0, 2, 1))) * inv_sqrt
        attn = mm(softmax(scores), v).reshape(b, heads, s, hd).transpose(0, 2, 1, 3).reshape(b * s, d)
        x = x + (mm(np.ascontiguousarray(attn), w[f"{p}.proj.weight"]) + w[f"{p}.proj.bias"]).reshape(b, s, d)
        h = layer_norm(x, w[f"{p}.ln2.weight"], w[f"{p}.ln2.bias"], eps).reshape(b * s, d)
        h = act(mm(h, w[f"{p}.fc1.weight"]) + w[f"{p}.fc1.bias"])
        x = x + (mm(h, w[f"{p}.fc2.weight"]) + w[f"{p}.fc2.bias"]).reshape(b, s, d)
    if cfg.distilled:  # the class head, then the distillation head (GEMM head_dist); the logits are their mean
        x = layer_norm(x[:, :2], w["norm.weight"], w["norm.bias"], eps)
        cls_logits = mm(np.ascontiguousarray(x[:, 0]), w["head.weight"]) + w["head.bias"]
        dist_logits = mm(np.ascontiguousarray(x[:, 1]), w["head_dist.weight"]) + w["head_dist.bias"]
        return (0.5 * (cls_logits + dist_logits)).astype(np.float32)
    x = layer_norm(x[:, 0], w["norm.weight"], w["norm.bias"], eps)
    return (mm(x, w["head.weight"]) + w["head.bias"]).astype(np.float32)


def predictions(logits: np.ndarray) -> np.ndarray:
    """Top-1 class per row; a row with a non-finite logit predicts -1 (counted wrong)."""
    pred = np.argmax(np.nan_to_num(logits, nan=-np.inf), axis=1)
    return np.where(np.all(np.isfinite(logits), axis=1), pred, -1)


class ScaleRecorder:
    """A float matmul that records max |A| and max |B| per GEMM index (static-scale calibration)."""

    def __init__(self, n_gemms: int) -> None:
        self.a_max = np.zeros(n_gemms)
        self.b_max = np.zeros(n_gemms)

    def __call__(self, index: int, a: np.ndarray, b: np.ndarray, a_scale: float, b_scale: float) -> np.ndarray:
        self.a_max[index] = max(self.a_max[index], float(np.max(np.abs(a))))
        self.b_max[index] = max(self.b_max[index], float(np.max(np.abs(b))))
        return float_matmul(index, a, b, a_scale, b_scale)

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """int8 scales max / 127 (1.0 where a tensor was all zero)."""

        def to_scale(peak: np.ndarray) -> np.ndarray:
            return np.where(peak > 0, peak / 127.0, 1.0)

        return to_scale(self.a_max), to_scale(self.b_max)
