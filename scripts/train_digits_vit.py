"""Train the bundled digits ViT and write simulator/functional/data/digits_vit.npz (reproducible, seeded, CPU).

    pip install -e '.[train]'          # torch + scikit-learn, needed only here
    python scripts/train_digits_vit.py [--out PATH] [--epochs N]

Data: scikit-learn's copy of the UCI 8x8 handwritten digits (1797 images, pixels 0..16, shipped
with scikit-learn: nothing is downloaded). Stratified splits with fixed seeds: 20 % test, 15 %
calibration (for `abftsim calibrate`), the remaining 65 % train; only the train split is trained
on and used to calibrate the static int8 activation scales. The held-out test and calibration
splits are stored in the bundle with their indices into load_digits() order.

Model: ViT with 2x2 patches (16 patches + class token), hidden 32, depth 2, 2 heads, MLP ratio 2,
pre-LN, tanh-GELU; AdamW with cosine decay, label smoothing, +-1 pixel random shifts.
After training, the numpy model (simulator.functional.vit) is evaluated in float32 and through the
functional int8 accelerator (no faults); those accuracies are recorded in the bundle, and the
int8 one is what tests/test_model.py checks that numpy inference reproduces exactly.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.config.loader import load_hw  # noqa: E402
from simulator.functional.accelerator import FunctionalAccelerator  # noqa: E402
from simulator.functional.bundle import Split, bundle_arrays  # noqa: E402
from simulator.functional.vit import ScaleRecorder, VitConfig, VitWeights, forward, predictions  # noqa: E402

SEED = 0
CONFIG = VitConfig(image_size=8, patch_size=2, channels=1, hidden=32, depth=2, heads=2, mlp_ratio=2.0, classes=10)
DEFAULT_OUT = REPO / "simulator" / "model" / "data" / "digits_vit.npz"


def splits(seed: int = SEED) -> tuple[Split, Split, Split]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # (1797, 8, 8), 0..16
    labels = digits.target.astype(np.int64)
    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=0.20, stratify=labels, random_state=seed)
    train, calib = train_test_split(rest, test_size=0.15 / 0.80, stratify=labels[rest], random_state=seed + 1)

    def make(name: str, idx: np.ndarray) -> Split:
        idx = np.sort(idx)
        return Split(name, images[idx], labels[idx], idx)

    return make("train", train), make("test", test), make("calibration", calib)


def build_torch_model(cfg: VitConfig):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = cfg.hidden
            self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc1, self.fc2 = nn.Linear(d, cfg.mlp_hidden), nn.Linear(cfg.mlp_hidden, d)
            self.act = nn.GELU(approximate="tanh")

        def forward(self, x):
            b, s, d = x.shape
            h, hd = cfg.heads, cfg.head_dim
            qkv = self.qkv(self.ln1(x)).reshape(b, s, 3, h, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
            out = (attn @ v).transpose(1, 2).reshape(b, s, d)
            x = x + self.proj(out)
            return x + self.fc2(self.act(self.fc1(self.ln2(x))))

    class Vit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = cfg.hidden
            self.patch_embed = nn.Linear(cfg.channels * cfg.patch_size**2, d)
            self.cls_token = nn.Parameter(torch.zeros(d))
            self.pos_embed = nn.Parameter(0.02 * torch.randn(cfg.tokens, d))
            self.blocks = nn.ModuleList(Block() for _ in range(cfg.depth))
            self.norm = nn.LayerNorm(d, eps=1e-6)
            self.head = nn.Linear(d, cfg.classes)

        def forward(self, images):  # (B, 8, 8) in [0, 1]
            b, p, g = images.shape[0], cfg.patch_size, cfg.image_size // cfg.patch_size
            x = images.reshape(b, 1, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, p * p)
            x = self.patch_embed(x)
            x = torch.cat([self.cls_token.expand(b, 1, -1), x], dim=1) + self.pos_embed
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.norm(x[:, 0]))

    return Vit()


def export(model, cfg: VitConfig) -> dict[str, np.ndarray]:
    """Torch state -> numpy weights named as vit.parameter_shapes (Linear weights transposed to K x N)."""
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        name = f"block{parts[1]}." + ".".join(parts[2:]) if parts[0] == "blocks" else key
        out[name] = value.T.copy() if name.endswith(".weight") and value.ndim == 2 else value
    return out


def shift_batch(x, rng_t):
    """Random +-1 pixel translation (zero fill) of a (B, 8, 8) batch."""
    import torch

    b = x.shape[0]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    dy = torch.randint(0, 3, (b,), generator=rng_t)
    dx = torch.randint(0, 3, (b,), generator=rng_t)
    rows = (dy[:, None] + torch.arange(8)[None, :])[:, :, None].expand(b, 8, 8)
    cols = (dx[:, None] + torch.arange(8)[None, :])[:, None, :].expand(b, 8, 8)
    return padded[torch.arange(b)[:, None, None], rows, cols]


def train(cfg: VitConfig, train_split: Split, epochs: int, seed: int = SEED):
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    model = build_torch_model(cfg)
    x = torch.tensor(train_split.inputs())
    y = torch.tensor(train_split.labels)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    batch = 64
    steps = epochs * math.ceil(len(y) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(y), generator=gen)
        total = 0.0
        for start in range(0, len(y), batch):
            idx = perm[start : start + batch]
            loss = loss_fn(model(shift_batch(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        if (epoch + 1) % 25 == 0:
            print(f"epoch {epoch + 1}: loss {total / len(y):.4f}", file=sys.stderr)
    model.eval()
    return model


def torch_accuracy(model, split: Split) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.tensor(split.inputs())).argmax(dim=1).numpy()
    return float(np.mean(pred == split.labels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args(argv)
    cfg = CONFIG
    train_split, test, calib = splits()
    model = train(cfg, train_split, args.epochs)
    weights = export(model, cfg)
    n = len(cfg.gemms(1))
    recorder = ScaleRecorder(n)
    probe = VitWeights(cfg, weights, np.ones(n), np.ones(n))
    forward(probe, train_split.inputs(), recorder)
    a_scales, b_scales = recorder.scales()
    params = VitWeights(cfg, weights, a_scales, b_scales)
    hw = load_hw("edge_32x32")
    recorded: dict[str, float] = {}
    for split in (test, calib):
        key = split.name
        recorded[f"{key}_torch_float_accuracy"] = torch_accuracy(model, split)
        float_pred = predictions(forward(params, split.inputs()))
        recorded[f"{key}_float_accuracy"] = float(np.mean(float_pred == split.labels))
        acc = FunctionalAccelerator(hw, cfg.gemms(len(split)))
        int8_pred = predictions(forward(params, split.inputs(), acc))
        correct = int(np.sum(int8_pred == split.labels))
        recorded[f"{key}_int8_correct"] = correct
        recorded[f"{key}_size"] = len(split)
        recorded[f"{key}_int8_accuracy"] = correct / len(split)
    recorded["train_size"] = len(train_split)
    recorded["epochs"] = args.epochs
    recorded["seed"] = SEED
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **bundle_arrays(params, {"test": test, "calibration": calib}, recorded))
    for key, value in recorded.items():
        print(f"{key}: {value:g}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
