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
    distillation_token: bool = False,
) -> tuple[Gemm, ...]:
    """GEMMs of a ViT forward pass (Dosovitskiy et al., ICLR 2021), in execution order.

    Tokens S = (image/patch)^2 + 1 (class token), + 1 with a distillation token (DeiT,
    Touvron et al., ICML 2021, whose second classifier `head_dist` reads that token). Per block: qkv [S*b, D] x [D, 3D];
    per head and image qk [S, d] x [d, S] and av [S, S] x [S, d] with d = D / heads (one Gemm
    with count = heads * batch); proj [S*b, D] x [D, D]; fc1 [S*b, D] x [D, r*D];
    fc2 [S*b, r*D] x [r*D, D]. Patch embedding is a stride-p convolution, i.e. the GEMM
    [P*b, c*p*p] x [c*p*p, D] with P = (image/patch)^2; the head classifies the class token.
    """
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
    mlp_hidden = round(hidden * mlp_ratio)
    if mlp_hidden != hidden * mlp_ratio:
        raise ValueError(f"hidden * mlp_ratio = {hidden * mlp_ratio} is not an integer")
    patches = (image_size // patch_size) ** 2
    tokens = patches + 1 + int(distillation_token)
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
    gemms.append(Gemm("head", "head", batch, hidden, classes))
    if distillation_token:
        gemms.append(Gemm("head_dist", "head", batch, hidden, classes))
    return tuple(gemms)
