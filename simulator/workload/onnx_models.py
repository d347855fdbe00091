"""Reference networks as ONNX graphs built with onnx.helper, laid out as PyTorch exports them
(node scopes, initializer names, the Reshape/Transpose around attention, folded BatchNorm).

They exist to test and demonstrate the importer without downloading models: `vit` (timm's
VisionTransformer, optionally DeiT's distillation token), `swin` (window attention with the
cyclic shift and patch merging), `resnet50` (torchvision's v1.5 layout)
and `small_cnn` (plain, grouped and depthwise convolutions). Weights are shape-only placeholders
(external data that is never written) unless `weights_seed` asks for random values, which makes
the graph runnable (e.g. by onnx.reference) at the cost of its size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.workload.onnx_graph import require_onnx

OPSET = 17


class GraphBuilder:
    """Nodes, initializers and inputs of one graph, named the way torch.onnx.export names them."""

    def __init__(self, weights_seed: int | None) -> None:
        self.onnx = require_onnx()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.rng = None if weights_seed is None else np.random.default_rng(weights_seed)
        self._counts: dict[str, int] = {}
        self._anonymous = 0

    def weight(self, name: str, dims: tuple[int, ...]) -> str:
        """A float weight: random values, or a placeholder that records only its shape."""
        TensorProto = self.onnx.TensorProto
        if self.rng is not None:
            fan_in = math.prod(dims[1:]) if len(dims) > 1 else dims[0]
            values = self.rng.standard_normal(dims).astype(np.float32) / np.float32(math.sqrt(fan_in))
            self.initializers.append(self.onnx.numpy_helper.from_array(values, name))
            return name
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value="weights.bin")  # shape only: never written
        self.initializers.append(tensor)
        return name

    def constant(self, values: int | list[int] | list[float], dtype: Any = np.int64) -> str:
        """A small constant with real data (shapes, indices, scalars), named like torch's."""
        self._anonymous += 1
        name = f"onnx::Constant_{self._anonymous}"
        array = np.array(values, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, scope: str, op: str, inputs: list[str], **attrs: Any) -> str:
        """One node named `{scope}/{op}` (`_1`, `_2` for repeats, as torch does); its output name."""
        key = f"{scope}/{op}"
        seen = self._counts.get(key, 0)
        self._counts[key] = seen + 1
        name = key if seen == 0 else f"{key}_{seen}"
        output = f"{name}_output_0"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def linear(self, scope: str, x: str, k: int, n: int, param: str) -> str:
        """nn.Linear on a 3-D input as torch exports it: MatMul with a transposed weight copy, Add bias."""
        w = self.weight(f"onnx::MatMul_{param}", (k, n))
        y = self.node(scope, "MatMul", [x, w])
        return self.node(scope, "Add", [self.weight(f"{param}.bias", (n,)), y])

    def layer_norm(self, scope: str, x: str, dim: int, param: str) -> str:
        scale, bias = self.weight(f"{param}.weight", (dim,)), self.weight(f"{param}.bias", (dim,))
        return self.node(scope, "LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-6)

    def gelu(self, scope: str, x: str) -> str:
        """nn.GELU as exported: x * 0.5 * (1 + erf(x / sqrt(2)))."""
        erf = self.node(scope, "Erf", [self.node(scope, "Div", [x, self.constant([math.sqrt(2.0)], np.float32)])])
        erf = self.node(scope, "Add", [erf, self.constant([1.0], np.float32)])
        return self.node(scope, "Mul", [self.node(scope, "Mul", [x, erf]), self.constant([0.5], np.float32)])

    def model(self, name: str, inputs: list[Any], outputs: list[Any]) -> Any:
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="abftsim")


def _image_input(onnx: Any, channels: int, size: int, batch: int | str) -> Any:
    return onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [batch, channels, size, size])


def _logits(onnx: Any, name: str, batch: int | str, classes: int) -> Any:
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [batch, classes])


def vit(
    *, image_size: int = 224, patch_size: int = 16, hidden: int = 768, depth: int = 12, heads: int = 12,
    mlp_ratio: int = 4, classes: int = 1000, batch: int | str = 1, distillation_token: bool = False,
    weights_seed: int | None = None,
) -> Any:  # fmt: skip
    """A ViT (timm's VisionTransformer export): Conv patch embedding, class (and distillation)
    token, pre-norm blocks with fused qkv, erf GELU, and a Gemm head on the class token."""
    b = GraphBuilder(weights_seed)
    onnx = b.onnx
    grid = image_size // patch_size
    head_dim, mlp = hidden // heads, hidden * mlp_ratio
    extra = 2 if distillation_token else 1
    tokens = grid * grid + extra
    w = b.weight("patch_embed.proj.weight", (hidden, 3, patch_size, patch_size))
    conv_inputs = ["input", w, b.weight("patch_embed.proj.bias", (hidden,))]
    x = b.node("/patch_embed/proj", "Conv", conv_inputs, kernel_shape=[patch_size] * 2, strides=[patch_size] * 2)
    x = b.node("/patch_embed", "Reshape", [x, b.constant([0, hidden, -1])])
    x = b.node("/patch_embed", "Transpose", [x], perm=[0, 2, 1])
    batch_size = b.node("", "Gather", [b.node("", "Shape", ["input"]), b.constant([0])], axis=0)
    token_shape = b.node("", "Concat", [batch_size, b.constant([1, hidden])], axis=0)
    parts = [b.node("", "Expand", [b.weight("cls_token", (1, 1, hidden)), token_shape])]
    if distillation_token:
        parts.append(b.node("", "Expand", [b.weight("dist_token", (1, 1, hidden)), token_shape]))
    x = b.node("", "Concat", [*parts, x], axis=1)
    x = b.node("", "Add", [x, b.weight("pos_embed", (1, tokens, hidden))])
    scale = b.constant([head_dim**-0.5], np.float32)
    for i in range(depth):
        s = f"/blocks/blocks.{i}"
        p = f"blocks.{i}"
        h = b.layer_norm(f"{s}/norm1", x, hidden, f"{p}.norm1")
        qkv = b.linear(f"{s}/attn/qkv", h, hidden, 3 * hidden, f"{p}.attn.qkv")
        qkv = b.node(f"{s}/attn", "Reshape", [qkv, b.constant([0, tokens, 3, heads, head_dim])])
        qkv = b.node(f"{s}/attn", "Transpose", [qkv], perm=[2, 0, 3, 1, 4])
        q, k, v = (b.node(f"{s}/attn", "Gather", [qkv, b.constant(j)], axis=0) for j in range(3))
        q = b.node(f"{s}/attn", "Mul", [q, scale])
        k = b.node(f"{s}/attn", "Transpose", [k], perm=[0, 1, 3, 2])
        attn = b.node(f"{s}/attn", "MatMul", [q, k])
        attn = b.node(f"{s}/attn", "Softmax", [attn], axis=-1)
        ctx = b.node(f"{s}/attn", "MatMul", [attn, v])
        ctx = b.node(f"{s}/attn", "Transpose", [ctx], perm=[0, 2, 1, 3])
        ctx = b.node(f"{s}/attn", "Reshape", [ctx, b.constant([0, tokens, hidden])])
        x = b.node(s, "Add", [x, b.linear(f"{s}/attn/proj", ctx, hidden, hidden, f"{p}.attn.proj")])
        h = b.layer_norm(f"{s}/norm2", x, hidden, f"{p}.norm2")
        h = b.linear(f"{s}/mlp/fc1", h, hidden, mlp, f"{p}.mlp.fc1")
        h = b.gelu(f"{s}/mlp/act", h)
        x = b.node(s, "Add", [x, b.linear(f"{s}/mlp/fc2", h, mlp, hidden, f"{p}.mlp.fc2")])
    x = b.layer_norm("/norm", x, hidden, "norm")
    outputs = []
    for j, head in enumerate(("head", "head_dist")[:extra]):
        token = b.node("", "Gather", [x, b.constant(j)], axis=1)
        logits = b.node(f"/{head}", "Gemm", [token, b.weight(f"{head}.weight", (classes, hidden)),
                        b.weight(f"{head}.bias", (classes,))], transB=1)  # fmt: skip
        outputs.append(logits)
    if distillation_token:  # DeiT averages the two classifiers at inference
        total = b.node("", "Add", outputs)
        outputs = [b.node("", "Div", [total, b.constant([2.0], np.float32)])]
    out = _logits(onnx, outputs[0], batch, classes)
    return b.model("vit", [_image_input(onnx, 3, image_size, batch)], [out])


def _conv(b: GraphBuilder, scope: str, param: str, x: str, cin: int, cout: int, kernel: int, stride: int = 1,
          groups: int = 1) -> str:  # fmt: skip
    """A Conv with BatchNorm folded in (as torch exports eval-mode models): weight and bias."""
    w = b.weight(f"onnx::Conv_{param}", (cout, cin // groups, kernel, kernel))
    pad = kernel // 2
    return b.node(scope, "Conv", [x, w, b.weight(f"onnx::Conv_{param}.bias", (cout,))], kernel_shape=[kernel] * 2,
                  strides=[stride] * 2, pads=[pad] * 4, group=groups)  # fmt: skip


def resnet50(*, batch: int | str = 1, classes: int = 1000, weights_seed: int | None = None) -> Any:
    """ResNet-50 (He et al., CVPR 2016) in torchvision's layout: bottlenecks with the stride on the
    3x3 convolution (v1.5), BatchNorm folded into the convolutions, a Gemm classifier."""
    b = GraphBuilder(weights_seed)
    x = b.node("/relu", "Relu", [_conv(b, "/conv1", "conv1", "input", 3, 64, 7, stride=2)])
    x = b.node("/maxpool", "MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for layer, (blocks, width, stride) in enumerate(((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)), start=1):
        for j in range(blocks):
            s, p = f"/layer{layer}/layer{layer}.{j}", f"layer{layer}.{j}"
            step = stride if j == 0 else 1
            h = b.node(f"{s}/relu", "Relu", [_conv(b, f"{s}/conv1", f"{p}.conv1", x, cin, width, 1)])
            h = b.node(f"{s}/relu_1", "Relu", [_conv(b, f"{s}/conv2", f"{p}.conv2", h, width, width, 3, step)])
            h = _conv(b, f"{s}/conv3", f"{p}.conv3", h, width, 4 * width, 1)
            if j == 0:
                x = _conv(b, f"{s}/downsample/downsample.0", f"{p}.downsample.0", x, cin, 4 * width, 1, step)
            x = b.node(f"{s}/relu_2", "Relu", [b.node(s, "Add", [h, x])])
            cin = 4 * width
    x = b.node("/avgpool", "GlobalAveragePool", [x])
    x = b.node("", "Flatten", [x], axis=1)
    x = b.node("/fc", "Gemm", [x, b.weight("fc.weight", (classes, cin)), b.weight("fc.bias", (classes,))], transB=1)
    onnx = b.onnx
    return b.model("resnet50", [_image_input(onnx, 3, 224, batch)], [_logits(onnx, x, batch, classes)])


def small_cnn(*, batch: int | str = 1, weights_seed: int | None = None) -> Any:
    """A small CNN on 8 x 10 x 10 inputs: a plain 3x3 convolution, a grouped one (4 groups,
    stride 2), a depthwise one, a depthwise one with channel multiplier 2, a pointwise one and a
    Gemm classifier."""
    b = GraphBuilder(weights_seed)
    x = b.node("/c1/relu", "Relu", [_conv(b, "/c1", "c1", "input", 8, 16, 3)])
    x = b.node("/grouped/relu", "Relu", [_conv(b, "/grouped", "grouped", x, 16, 32, 3, stride=2, groups=4)])
    x = b.node("/dw/relu", "Relu", [_conv(b, "/dw", "dw", x, 32, 32, 3, groups=32)])
    x = b.node("/dw2/relu", "Relu", [_conv(b, "/dw2", "dw2", x, 32, 64, 3, groups=32)])
    x = _conv(b, "/pw", "pw", x, 64, 10, 1)
    x = b.node("", "Flatten", [b.node("/pool", "GlobalAveragePool", [x])], axis=1)
    x = b.node("/fc", "Gemm", [x, b.weight("fc.weight", (5, 10)), b.weight("fc.bias", (5,))], transB=1)
    onnx = b.onnx
    return b.model("small_cnn", [_image_input(onnx, 8, 10, batch)], [_logits(onnx, x, batch, 5)])


def swin(
    *, image_size: int = 224, embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
    heads: tuple[int, ...] = (3, 6, 12, 24), window_size: int = 7, classes: int = 1000, batch: int | str = 1,
    weights_seed: int | None = None,
) -> Any:  # fmt: skip
    """A Swin Transformer (the reference implementation's export, patch size 4, MLP ratio 4):
    window partition and reverse as Reshape/Transpose, the cyclic shift of every second block as
    Slice/Concat, relative position bias and shift mask as Adds before the Softmax, patch merging
    as strided Slices, a Concat and a bias-free MatMul."""
    b = GraphBuilder(weights_seed)
    onnx = b.onnx
    grid, dim = image_size // 4, embed_dim
    w_in = b.weight("patch_embed.proj.weight", (dim, 3, 4, 4))
    x = b.node("/patch_embed/proj", "Conv", ["input", w_in, b.weight("patch_embed.proj.bias", (dim,))],
               kernel_shape=[4, 4], strides=[4, 4])  # fmt: skip
    x = b.node("/patch_embed", "Transpose", [b.node("/patch_embed", "Reshape", [x, b.constant([0, dim, -1])])],
               perm=[0, 2, 1])  # fmt: skip
    x = b.layer_norm("/patch_embed/norm", x, dim, "patch_embed.norm")
    for s, (depth, n_heads) in enumerate(zip(depths, heads, strict=True)):
        window = min(window_size, grid)
        tokens, n_windows, head_dim = window * window, (grid // window) ** 2, dim // n_heads
        shift = window // 2 if grid > window else 0
        for j in range(depth):
            scope, p = f"/layers/layers.{s}/blocks/blocks.{j}", f"layers.{s}.blocks.{j}"
            h = b.layer_norm(f"{scope}/norm1", x, dim, f"{p}.norm1")
            h = b.node(scope, "Reshape", [h, b.constant([0, grid, grid, dim])])
            shifted = j % 2 == 1 and shift > 0
            if shifted:
                h = _roll(b, scope, h, -shift, grid)
            h = b.node(scope, "Reshape", [h, b.constant([0, grid // window, window, grid // window, window, dim])])
            h = b.node(scope, "Transpose", [h], perm=[0, 1, 3, 2, 4, 5])
            h = b.node(scope, "Reshape", [h, b.constant([-1, tokens, dim])])
            qkv = b.linear(f"{scope}/attn/qkv", h, dim, 3 * dim, f"{p}.attn.qkv")
            qkv = b.node(f"{scope}/attn", "Reshape", [qkv, b.constant([0, tokens, 3, n_heads, head_dim])])
            qkv = b.node(f"{scope}/attn", "Transpose", [qkv], perm=[2, 0, 3, 1, 4])
            q, k, v = (b.node(f"{scope}/attn", "Gather", [qkv, b.constant(i)], axis=0) for i in range(3))
            q = b.node(f"{scope}/attn", "Mul", [q, b.constant([head_dim**-0.5], np.float32)])
            attn = b.node(f"{scope}/attn", "MatMul", [q, b.node(f"{scope}/attn", "Transpose", [k], perm=[0, 1, 3, 2])])
            attn = b.node(
                f"{scope}/attn", "Add", [attn, b.weight(f"{p}.attn.relative_position_bias", (n_heads, tokens, tokens))]
            )
            if shifted:
                attn = b.node(f"{scope}/attn", "Reshape", [attn, b.constant([-1, n_windows, n_heads, tokens, tokens])])
                attn = b.node(
                    f"{scope}/attn", "Add", [attn, b.weight(f"{p}.attn_mask", (n_windows, 1, tokens, tokens))]
                )
                attn = b.node(f"{scope}/attn", "Reshape", [attn, b.constant([-1, n_heads, tokens, tokens])])
            attn = b.node(f"{scope}/attn/softmax", "Softmax", [attn], axis=-1)
            ctx = b.node(f"{scope}/attn", "MatMul", [attn, v])
            ctx = b.node(f"{scope}/attn", "Transpose", [ctx], perm=[0, 2, 1, 3])
            ctx = b.node(f"{scope}/attn", "Reshape", [ctx, b.constant([0, tokens, dim])])
            h = b.linear(f"{scope}/attn/proj", ctx, dim, dim, f"{p}.attn.proj")
            h = b.node(scope, "Reshape", [h, b.constant([-1, grid // window, grid // window, window, window, dim])])
            h = b.node(scope, "Transpose", [h], perm=[0, 1, 3, 2, 4, 5])
            h = b.node(scope, "Reshape", [h, b.constant([-1, grid, grid, dim])])
            if shifted:
                h = _roll(b, scope, h, shift, grid)
            x = b.node(scope, "Add", [x, b.node(scope, "Reshape", [h, b.constant([-1, grid * grid, dim])])])
            h = b.layer_norm(f"{scope}/norm2", x, dim, f"{p}.norm2")
            h = b.linear(f"{scope}/mlp/fc1", h, dim, 4 * dim, f"{p}.mlp.fc1")
            h = b.gelu(f"{scope}/mlp/act", h)
            x = b.node(scope, "Add", [x, b.linear(f"{scope}/mlp/fc2", h, 4 * dim, dim, f"{p}.mlp.fc2")])
        if s < len(depths) - 1:
            scope = f"/layers/layers.{s}/downsample"
            h = b.node(scope, "Reshape", [x, b.constant([0, grid, grid, dim])])
            steps = [b.constant([grid, grid]), b.constant([1, 2]), b.constant([2, 2])]  # ends, axes, steps
            parts = [
                b.node(scope, "Slice", [h, b.constant([r, c]), *steps]) for r, c in ((0, 0), (1, 0), (0, 1), (1, 1))
            ]
            h = b.node(scope, "Reshape", [b.node(scope, "Concat", parts, axis=-1), b.constant([0, -1, 4 * dim])])
            h = b.layer_norm(f"{scope}/norm", h, 4 * dim, f"layers.{s}.downsample.norm")
            w = b.weight(f"onnx::MatMul_layers.{s}.downsample.reduction", (4 * dim, 2 * dim))
            x = b.node(f"{scope}/reduction", "MatMul", [h, w])
            grid, dim = grid // 2, 2 * dim
    x = b.node("/avgpool", "ReduceMean", [b.layer_norm("/norm", x, dim, "norm")], axes=[1], keepdims=0)
    x = b.node(
        "/head", "Gemm", [x, b.weight("head.weight", (classes, dim)), b.weight("head.bias", (classes,))], transB=1
    )
    return b.model("swin", [_image_input(onnx, 3, image_size, batch)], [_logits(onnx, x, batch, classes)])


def _roll(b: GraphBuilder, scope: str, x: str, shift: int, grid: int) -> str:
    """torch.roll over the two grid axes of [B, H, W, C], as exported: Slice and Concat per axis."""
    cut = shift % grid
    for axis in (1, 2):
        tail = b.node(scope, "Slice", [x, b.constant([grid - cut]), b.constant([grid]), b.constant([axis])])
        head = b.node(scope, "Slice", [x, b.constant([0]), b.constant([grid - cut]), b.constant([axis])])
        x = b.node(scope, "Concat", [tail, head], axis=axis)
    return x
