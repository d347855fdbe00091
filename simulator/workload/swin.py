"""Swin Transformer hyper-parameters expanded into the ordered list of GEMMs of one inference."""

from __future__ import annotations

from collections.abc import Sequence

from simulator.workload.gemm import Gemm


def swin_gemms(
    *,
    image_size: int,
    patch_size: int,
    channels: int,
    embed_dim: int,
    depths: Sequence[int],
    heads: Sequence[int],
    window_size: int,
    mlp_ratio: float,
    classes: int,
    batch: int = 1,
) -> tuple[Gemm, ...]:
    """GEMMs of a Swin Transformer forward pass (Liu et al., ICCV 2021), in execution order.

    Patch embedding: a stride-p convolution, the GEMM [P*b, c*p*p] x [c*p*p, C] with
    P = (image/p)^2 tokens. Stage s works on an r x r token grid (r = image/p / 2^s) of
    C_s = C * 2^s channels in windows of w x w tokens (w = min(window, r), as the reference
    implementation clips the window to the grid); every block: qkv [r^2*b, C_s] x [C_s, 3C_s];
    per window, head and image qk [w^2, d] x [d, w^2] and av [w^2, w^2] x [w^2, d] with
    d = C_s / heads_s (count = (r/w)^2 windows x heads x batch); proj, fc1, fc2 as in a ViT.
    Shifted-window blocks (every second one) roll the grid and mask the scores: same GEMMs.
    Between stages, patch merging concatenates 2x2 neighbours: [(r/2)^2*b, 4C_s] x [4C_s, 2C_s].
    The head classifies the average-pooled tokens: [b, C_last] x [C_last, classes].
    """
    if len(depths) != len(heads) or not depths:
        raise ValueError(f"depths and heads must list the same number of stages, got {len(depths)} and {len(heads)}")
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
    grid = image_size // patch_size
    if grid % 2 ** (len(depths) - 1):
        raise ValueError(f"the {grid}x{grid} token grid cannot be halved {len(depths) - 1} times by patch merging")
    mlp_scale = round(embed_dim * mlp_ratio)
    if mlp_scale != embed_dim * mlp_ratio:
        raise ValueError(f"embed_dim * mlp_ratio = {embed_dim * mlp_ratio} is not an integer")
    gemms = [Gemm("patch_embed", "patch_embed", grid * grid * batch, channels * patch_size**2, embed_dim)]
    dim = embed_dim
    for s, (depth, n_heads) in enumerate(zip(depths, heads, strict=True)):
        window = min(window_size, grid)
        if grid % window:
            raise ValueError(
                f"stage {s}: the {grid}x{grid} token grid is not a multiple of the {window}x{window} window"
            )
        if dim % n_heads:
            raise ValueError(f"stage {s}: {dim} channels are not a multiple of {n_heads} heads")
        rows, win_tokens, head_dim = grid * grid * batch, window * window, dim // n_heads
        instances = (grid // window) ** 2 * n_heads * batch
        mlp_hidden = mlp_scale * dim // embed_dim
        for j in range(depth):
            p = f"stage{s}.block{j}"
            gemms += [
                Gemm(f"{p}.qkv", "qkv", rows, dim, 3 * dim),
                Gemm(f"{p}.qk", "qk", win_tokens, head_dim, win_tokens, count=instances),
                Gemm(f"{p}.av", "av", win_tokens, win_tokens, head_dim, count=instances),
                Gemm(f"{p}.proj", "proj", rows, dim, dim),
                Gemm(f"{p}.fc1", "fc1", rows, dim, mlp_hidden),
                Gemm(f"{p}.fc2", "fc2", rows, mlp_hidden, dim),
            ]
        if s < len(depths) - 1:
            grid //= 2
            gemms.append(Gemm(f"stage{s}.merge", "patch_merge", grid * grid * batch, 4 * dim, 2 * dim))
            dim *= 2
    gemms.append(Gemm("head", "head", batch, dim, classes))
    return tuple(gemms)
