"""ONNX import: graphs built with onnx.helper (laid out as PyTorch exports them) become the GEMMs
an architect would write by hand; bad models give one line naming the node."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from simulator.config.loader import load_workload
from simulator.errors import ConfigError
from simulator.workload.gemm import Gemm
from simulator.workload.onnx_import import import_onnx
from simulator.workload.onnx_models import resnet50, small_cnn, swin, vit
from simulator.workload.swin import swin_gemms
from simulator.workload.vit import vit_gemms


def shapes(wl):
    return [(g.kind, g.m, g.k, g.n, g.count) for g in wl.gemms]


def save(tmp_path, model, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_imported_vit_b16_equals_the_preset_gemm_for_gemm():
    imported = import_onnx(vit(), "vit")
    preset = load_workload("vit_base_16")
    assert shapes(imported) == shapes(preset)
    assert imported.macs == preset.macs == 17_563_828_224
    names = [g.name for g in imported.gemms]
    assert names[:7] == ["patch_embed.proj", "blocks.0.attn.qkv", "blocks.0.attn.qk", "blocks.0.attn.av",
                         "blocks.0.attn.proj", "blocks.0.mlp.fc1", "blocks.0.mlp.fc2"]  # fmt: skip
    assert names[-1] == "head" and "blocks.11.mlp.fc2" in names


def test_imported_deit_tiny_distilled_equals_the_preset():
    imported = import_onnx(vit(hidden=192, heads=3, distillation_token=True), "deit")
    assert shapes(imported) == shapes(load_workload("deit_tiny_distilled"))
    assert [g.name for g in imported.gemms][-2:] == ["head", "head_dist"]


def test_imported_swin_tiny_equals_the_preset_gemm_for_gemm():
    """Window partition, cyclic shift and patch merging as an export lays them out: the attention
    MatMuls come out per window and head (count = windows x heads), merging as patch_merge."""
    imported = import_onnx(swin(), "swin")
    assert shapes(imported) == shapes(load_workload("swin_tiny"))
    by = {g.name: g for g in imported.gemms}
    assert by["layers.0.blocks.1.attn.qk"] == Gemm("layers.0.blocks.1.attn.qk", "qk", 49, 32, 49, 64 * 3)
    assert by["layers.0.downsample.reduction"] == Gemm("layers.0.downsample.reduction", "patch_merge", 784, 384, 192)


def test_imported_swin_with_a_batch_axis():
    model = swin(image_size=56, embed_dim=32, depths=(2, 2), heads=(1, 2), batch="N")
    expected = swin_gemms(image_size=56, patch_size=4, channels=3, embed_dim=32, depths=(2, 2), heads=(1, 2),
                          window_size=7, mlp_ratio=4.0, classes=1000, batch=3)  # fmt: skip
    assert shapes(import_onnx(model, "s", batch=3)) == [(g.kind, g.m, g.k, g.n, g.count) for g in expected]


def test_a_symbolic_batch_axis_takes_the_batch():
    model = vit(image_size=32, patch_size=16, hidden=16, depth=1, heads=2, classes=10, batch="batch_size")
    two = import_onnx(model, "v", batch=2)
    expected = vit_gemms(image_size=32, patch_size=16, channels=3, hidden=16, depth=1, heads=2, mlp_ratio=4,
                         classes=10, batch=2)  # fmt: skip
    assert shapes(two) == [(g.kind, g.m, g.k, g.n, g.count) for g in expected]
    assert shapes(import_onnx(model, "v")) == shapes(import_onnx(model, "v", batch=1))  # default batch 1


def test_small_cnn_im2col_shapes_by_hand():
    wl = import_onnx(small_cnn(), "cnn")
    assert wl.gemms == (
        # 8 -> 16 channels, 3x3, pad 1, 10x10 stays 10x10: M = 100 pixels, K = 8 * 9, N = 16
        Gemm("c1", "conv", 100, 72, 16),
        # 4 groups, stride 2: 5x5 out; per group K = 16/4 * 9 = 36, N = 32/4 = 8, 4 instances
        Gemm("grouped", "conv", 25, 36, 8, count=4),
        # depthwise 32 channels: per channel K = 1 * 9, N = 1, 32 instances
        Gemm("dw", "conv", 25, 9, 1, count=32),
        # depthwise with channel multiplier 2 (32 -> 64, 32 groups): K = 9, N = 2, 32 instances
        Gemm("dw2", "conv", 25, 9, 2, count=32),
        # pointwise 64 -> 10
        Gemm("pw", "conv", 25, 64, 10),
        # classifier on the pooled 10 features
        Gemm("fc", "head", 1, 10, 5),
    )
    assert import_onnx(small_cnn(batch="N"), "cnn", batch=2).gemms[1] == Gemm("grouped", "conv", 50, 36, 8, count=4)


def test_resnet50_shapes_by_hand():
    wl = import_onnx(resnet50(), "resnet50")
    by = {g.name: g for g in wl.gemms}
    assert len(wl.gemms) == 1 + 3 * 16 + 4 + 1  # stem, 16 bottlenecks of 3 convs, 4 downsamples, fc
    assert by["conv1"] == Gemm("conv1", "conv", 112 * 112, 3 * 7 * 7, 64)
    assert by["layer1.0.conv2"] == Gemm("layer1.0.conv2", "conv", 56 * 56, 64 * 9, 64)
    assert by["layer1.0.downsample.0"] == Gemm("layer1.0.downsample.0", "conv", 56 * 56, 64, 256)
    assert by["layer2.0.conv1"] == Gemm("layer2.0.conv1", "conv", 56 * 56, 256, 128)  # v1.5: stride on the 3x3
    assert by["layer2.0.conv2"] == Gemm("layer2.0.conv2", "conv", 28 * 28, 128 * 9, 128)
    assert by["layer4.2.conv3"] == Gemm("layer4.2.conv3", "conv", 7 * 7, 512, 2048)
    assert by["fc"] == Gemm("fc", "head", 1, 2048, 1000)
    # by hand, stage by stage: stem + bottlenecks + downsamples + fc
    macs = 112 * 112 * 147 * 64
    grid_in, cin = 56, 64
    for blocks, width, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
        grid = grid_in // stride
        macs += grid_in**2 * cin * width + grid**2 * width * 9 * width + grid**2 * width * 4 * width
        macs += grid**2 * cin * 4 * width  # downsample
        macs += (blocks - 1) * (grid**2 * 4 * width * width * 2 + grid**2 * width * 9 * width)
        grid_in, cin = grid, 4 * width
    macs += 2048 * 1000
    assert wl.macs == macs == 4_089_184_256  # torchvision: 4.09 GFLOPS (multiply-adds)


def test_reference_graphs_are_valid_runnable_networks():
    from onnx.reference import ReferenceEvaluator

    model = vit(image_size=32, patch_size=16, hidden=16, depth=2, heads=2, classes=10, weights_seed=0,
                distillation_token=True)  # fmt: skip
    onnx.checker.check_model(model, full_check=True)
    image = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    (logits,) = ReferenceEvaluator(model).run(None, {"input": image})
    assert logits.shape == (1, 10) and np.all(np.isfinite(logits))
    tiny_swin = swin(image_size=56, embed_dim=16, depths=(2, 2), heads=(1, 2), classes=10, weights_seed=0)
    onnx.checker.check_model(tiny_swin, full_check=True)
    image = np.random.default_rng(2).standard_normal((1, 3, 56, 56)).astype(np.float32)
    (logits,) = ReferenceEvaluator(tiny_swin).run(None, {"input": image})
    assert logits.shape == (1, 10) and np.all(np.isfinite(logits))
    cnn = small_cnn(batch=2, weights_seed=0)
    onnx.checker.check_model(cnn, full_check=True)
    (out,) = ReferenceEvaluator(cnn).run(None, {"input": np.ones((2, 8, 10, 10), np.float32)})
    assert out.shape == (2, 5)


def _graph(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _weights(name, shape):
    return onnx.numpy_helper.from_array(np.zeros(shape, np.float32), name)


def test_matmul_broadcasting_and_gemm_transposes():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["y"], name="proj"),  # weight: [2, 5, 8] x [8, 6] -> M = 10
        helper.make_node("MatMul", ["y", "t"], ["z"], name="pairs"),  # activations [2, 5, 6] x [1, 6, 3]: count 2
        helper.make_node("Gemm", ["a", "wt"], ["c"], name="g", transA=1, transB=1),  # A^T [4, 7], B^T [7, 9]
        helper.make_node("MatMul", ["v", "w2"], ["u"], name="vec"),  # rank-1 A: M = 1
    ]
    model = _graph(nodes, [_value("x", [2, 5, 8]), _value("t", [1, 6, 3]), _value("a", [7, 4]), _value("v", [8])],
                   [_value("z", None), _value("c", None), _value("u", None)],
                   [_weights("w", (8, 6)), _weights("wt", (9, 7)), _weights("w2", (8, 2))])  # fmt: skip
    wl = import_onnx(model, "m")
    assert [(g.name, g.m, g.k, g.n, g.count) for g in wl.gemms] == [
        ("proj", 10, 8, 6, 1), ("pairs.matmul", 5, 6, 3, 2), ("g", 4, 7, 9, 1), ("vec", 1, 8, 2, 1)]  # fmt: skip
    # `proj` feeds a product of activations without a softmax: no structural role, so its name
    # gives the kind; the other weight GEMMs feed nothing further: classifiers
    assert [g.kind for g in wl.gemms] == ["proj", "matmul", "head", "head"]


def test_quantised_and_dequantised_weights_count_as_weights():
    w_q = onnx.numpy_helper.from_array(np.zeros((8, 4), np.int8), "w_q")
    scale = onnx.numpy_helper.from_array(np.array(0.1, np.float32), "s")
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "s"], ["w"], name="dq"),
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/enc/fc1/MatMul"),
        helper.make_node("Relu", ["h"], ["r"], name="/enc/act/Relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="/enc/fc2/MatMul"),
        helper.make_node("Add", ["y", "x4"], ["out"], name="/enc/Add"),
    ]
    model = _graph(nodes, [_value("x", [3, 8]), _value("x4", [3, 4])], [_value("out", None)],
                   [w_q, scale, _weights("w2", (4, 4))])  # fmt: skip
    wl = import_onnx(model, "q")
    assert [(g.name, g.kind, g.m, g.k, g.n) for g in wl.gemms] == [
        ("enc.fc1", "fc1", 3, 8, 4),
        ("enc.fc2", "head", 3, 4, 4),
    ]


def _error(tmp_path, model, **kwargs) -> str:
    path = save(tmp_path, model)
    with pytest.raises(ConfigError) as err:
        load_workload(path, **kwargs)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    return text


def test_a_runtime_reshape_is_named_where_shapes_are_lost(tmp_path):
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="/blocks.0/attn/Reshape"),
        helper.make_node("MatMul", ["r", "w"], ["y"], name="/blocks.0/attn/proj/MatMul"),
    ]
    shape_input = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    model = _graph(nodes, [_value("x", [4, 6]), shape_input], [_value("y", None)], [_weights("w", (6, 3))])
    text = _error(tmp_path, model)
    assert "node '/blocks.0/attn/proj/MatMul' (MatMul): tensor 'r'" in text
    assert "shape inference stops at node '/blocks.0/attn/Reshape' (Reshape)" in text


def test_a_symbolic_dimension_needs_a_size(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")]
    model = _graph(nodes, [_value("x", ["batch", "seq", 6])], [_value("y", None)], [_weights("w", (6, 3))])
    text = _error(tmp_path, model)
    assert "input 'x': dimension 1 (seq) has no fixed size" in text and "set it with dims seq=N" in text
    wl = load_workload(save(tmp_path, model), batch=2, dims={"seq": 5})
    assert wl.gemms == (Gemm("fc", "head", 10, 6, 3),)
    assert "dims: the model has no symbolic dimension 'sq'" in _error(tmp_path, model, dims={"sq": 5, "seq": 5})


def _mlp_around(op: str, domain: str):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/mlp/fc1/MatMul"),
        helper.make_node(op, ["h"], ["g"], name=f"/mlp/act/{op}", domain=domain),
        helper.make_node("MatMul", ["g", "w2"], ["y"], name="/mlp/fc2/MatMul"),
    ]
    graph = helper.make_graph(nodes, "g", [_value("x", [2, 6])], [_value("y", None)],
                              [_weights("w", (6, 4)), _weights("w2", (4, 3))])  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def test_onnx_runtime_contrib_activations_keep_their_shape(tmp_path):
    # ONNX Runtime's optimised graphs fuse GELU into com.microsoft.Gelu, unknown to ONNX shape inference
    wl = import_onnx(_mlp_around("Gelu", "com.microsoft"), "mlp")
    assert [(g.name, g.m, g.k, g.n) for g in wl.gemms] == [("mlp.fc1", 2, 6, 4), ("mlp.fc2", 2, 4, 3)]
    text = _error(tmp_path, _mlp_around("Mystery", "vendor.ops"))
    assert "node '/mlp/fc2/MatMul' (MatMul): tensor 'g' has no inferred shape" in text
    assert "stops at node '/mlp/act/Mystery' (Mystery), an operator of domain 'vendor.ops' it does not know" in text


def test_an_unsupported_operator_is_refused_by_name(tmp_path):
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="/decoder/up/ConvTranspose")]
    model = _graph(nodes, [_value("x", [1, 4, 5, 5])], [_value("y", None)], [_weights("w", (4, 2, 2, 2))])
    assert "node '/decoder/up/ConvTranspose' (ConvTranspose): unsupported operator" in _error(tmp_path, model)
    # a runtime-specific matrix operator is refused, not dropped with its MACs
    nodes = [helper.make_node("QGemm", ["x", "w"], ["y"], name="/fc/QGemm", domain="com.microsoft")]
    graph = helper.make_graph(nodes, "g", [_value("x", [2, 4])], [_value("y", None)], [_weights("w", (4, 3))])
    ms = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    assert "node '/fc/QGemm' (QGemm) of com.microsoft: unsupported operator" in _error(tmp_path, ms)


def test_unreadable_and_empty_models_give_one_line(tmp_path):
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"\x08\xff\xff\xff not protobuf")
    with pytest.raises(ConfigError, match=r"model.onnx: not a readable ONNX model"):
        load_workload(garbage)
    with pytest.raises(ConfigError, match=r"missing.onnx: no such file"):
        load_workload(tmp_path / "missing.onnx")
    relu = _graph([helper.make_node("Relu", ["x"], ["y"])], [_value("x", [2, 2])], [_value("y", None)])
    assert "the graph has no MatMul, Gemm or Conv" in _error(tmp_path, relu)
    bad = _graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [_value("x", [2, 5])],
                 [_value("y", None)], [_weights("w", (4, 3))])  # fmt: skip
    assert "shape inference failed" in _error(tmp_path, bad) and "mm" in _error(tmp_path, bad)


def test_a_fixed_batch_cannot_be_changed(tmp_path):
    assert "batch dimension is fixed at 1" in _error(tmp_path, small_cnn(), batch=4)


def test_without_the_onnx_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    path = save(tmp_path, small_cnn())
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ConfigError, match=r"model.onnx: reading ONNX models needs the onnx package: pip install"):
        load_workload(path)
