"""Vision Transformer hyper-parameters expanded into the ordered list of GEMMs of one inference."""

from __future__ import annotations

from simulator.workload.gemm import Gemm


def vit_gemms(
    *,
    image_size: int,
    patch_size: int,
    channels: int,
    hidden: int,
    depth: int,
    heads: int,
    mlp_ratio: float,
    classes: int,
    batch: int = 1,
    distilled: bool = False,
) -> tuple[Gemm, ...]:
    """GEMMs of a ViT forward pass (Dosovitskiy et al., ICLR 2021), in execution order.

    Tokens S = (image/patch)^2 + 1 (class token). Per block: qkv [S*b, D] x [D, 3D];
    per head and image qk [S, d] x [d, S] and av [S, S] x [S, d] with d = D / heads (one Gemm
    with count = heads * batch); proj [S*b, D] x [D, D]; fc1 [S*b, D] x [D, r*D];
    fc2 [S*b, r*D] x [r*D, D]. Patch embedding is a stride-p convolution, i.e. the GEMM
    [P*b, c*p*p] x [c*p*p, D] with P = (image/patch)^2; the head classifies the class token.
    `distilled` (DeiT, Touvron et al., ICML 2021): a distillation token joins the class token
    (S = P + 2) and the head GEMM has two instances (class head, distillation head).
    """
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
    mlp_hidden = round(hidden * mlp_ratio)
    if mlp_hidden != hidden * mlp_ratio:
        raise ValueError(f"hidden * mlp_ratio = {hidden * mlp_ratio} is not an integer")
    patches = (image_size // patch_size) ** 2
    tokens = patches + 1 + int(distilled)
    head_dim = hidden // heads
    rows = tokens * batch
    gemms = [Gemm("patch_embed", "patch_embed", patches * batch, channels * patch_size**2, hidden)]
    for i in range(depth):
        p = f"block{i}"
        gemms += [
            Gemm(f"{p}.qkv", "qkv", rows, hidden, 3 * hidden),
            Gemm(f"{p}.qk", "qk", tokens, head_dim, tokens, count=heads * batch),
            Gemm(f"{p}.av", "av", tokens, tokens, head_dim, count=heads * batch),
            Gemm(f"{p}.proj", "proj", rows, hidden, hidden),
            Gemm(f"{p}.fc1", "fc1", rows, hidden, mlp_hidden),
            Gemm(f"{p}.fc2", "fc2", rows, mlp_hidden, hidden),
        ]
    gemms.append(Gemm("head", "head", batch, hidden, classes, count=1 + int(distilled)))
    return tuple(gemms)
