"""Regenerate tests/data/vit_fixtures/: tiny seeded timm ViT and DeiT checkpoints, inputs and timm's own logits.

Needs torch and timm, which abftsim never does; use a throwaway venv (no weights are downloaded:
the models are randomly initialised from a fixed seed):

    python3 -m venv /tmp/tt && /tmp/tt/bin/pip install torch==2.13.0 timm safetensors
    /tmp/tt/bin/python scripts/make_vit_fixtures.py

(made with torch 2.13.0+cpu and timm 1.0.31; torchvision may be missing or unloadable, see below)

Writes, per model (`vit`: timm VisionTransformer; `deit`: timm VisionTransformerDistilled, the
distilled DeiT): the state dict (`vit.safetensors`; `deit.pth`, a torch.save zip, so both
checkpoint readers are exercised), `<model>_config.json` (timm's hyper-parameters), and
`<model>_io.npz` with `images` (float32 N x C x H x W model inputs), `labels` (timm's argmax, so
the int8 argmax agreement is measured against the float model) and `logits` (timm's forward in
eval mode, float32). The test checks the converter against these without torch.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


class _Placeholder(type):
    """Any attribute of a placeholder is another (distinct, cached) placeholder class."""

    def __getattr__(cls, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        sub = _Placeholder(name, (cls,), {})
        setattr(cls, name, sub)
        return sub


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        sub = _Placeholder(name, (), {})
        setattr(self, name, sub)
        return sub


class _TorchvisionPlaceholder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """timm imports torchvision at module level (data transforms, FrozenBatchNorm2d) but its ViT
    never calls it. PyPI's torchvision wheels are CUDA builds whose extension does not load next
    to a CPU-only torch; then every torchvision module is replaced by placeholders."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        module = _PlaceholderModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):  # type: ignore[no-untyped-def]
        pass


try:
    import torchvision  # noqa: F401
except (ImportError, OSError, RuntimeError):
    for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    sys.meta_path.insert(0, _TorchvisionPlaceholder())

from timm.models.deit import VisionTransformerDistilled  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "vit_fixtures"
ARGS = {"img_size": 16, "patch_size": 4, "in_chans": 3, "num_classes": 7, "embed_dim": 32, "depth": 2,
        "num_heads": 4, "mlp_ratio": 2.0}  # fmt: skip
IMAGES = 48


def _randomise(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Seeded weights of unit-variance activations: matrices N(0, 1 / fan_in), LayerNorm gains
    1 + N(0, 0.1^2), biases N(0, 0.1^2), tokens and positions N(0, 0.5^2) (timm's own init
    leaves tokens near zero and the logits nearly alike, a poor test of the argmax)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "token" in name or "pos_embed" in name:
                p.copy_(0.5 * noise)
            elif p.ndim > 1:
                p.copy_(noise / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, cls in (("vit", VisionTransformer), ("deit", VisionTransformerDistilled)):
        gen = torch.Generator().manual_seed(1 if name == "vit" else 2)
        model = cls(**ARGS).eval()
        _randomise(model, gen)
        images = torch.randn(IMAGES, ARGS["in_chans"], ARGS["img_size"], ARGS["img_size"], generator=gen)
        with torch.no_grad():
            logits = model(images)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        if name == "vit":
            save_file(state, str(OUT / "vit.safetensors"))
        else:
            torch.save(state, OUT / "deit.pth")
        (OUT / f"{name}_config.json").write_text(json.dumps({"architecture": cls.__name__, **ARGS}, indent=1) + "\n")
        np.savez_compressed(OUT / f"{name}_io.npz", images=images.numpy().astype(np.float32),
                            labels=logits.argmax(1).numpy().astype(np.int64),
                            logits=logits.numpy().astype(np.float32))  # fmt: skip
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters -> {OUT}")


if __name__ == "__main__":
    main()
