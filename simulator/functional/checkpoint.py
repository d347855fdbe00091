"""Read a checkpoint's tensors into numpy without torch: safetensors, a PyTorch zip state dict, or an .npz.

* safetensors (https://github.com/huggingface/safetensors, format description): an 8-byte
  little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw
  little-endian data;
* a PyTorch state dict saved by `torch.save` (the zip format of torch >= 1.6): `*/data.pkl`
  holds the object graph and `*/data/<key>` each storage's bytes. The pickle is read by an
  unpickler that resolves only the handful of globals a state dict uses (an ordered dict, the
  tensor and parameter rebuild functions and the storage types) and refuses every other one,
  so a checkpoint cannot run code;
* .npz: arrays by name (no pickles).
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                       "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}  # fmt: skip
_TORCH_STORAGES = {"DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
                   "ByteStorage": np.uint8, "BoolStorage": np.bool_, "BFloat16Storage": "bf16"}  # fmt: skip


def read_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint file, by name, as float32 (integer tensors keep their type)."""
    file = Path(path)
    try:
        if file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        if zipfile.is_zipfile(file):
            return _read_torch_zip(file)
        return _read_safetensors(file.read_bytes())
    except (OSError, ValueError, EOFError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{file}: cannot read the checkpoint: {exc}") from None


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32: the same bits in the upper half of the word."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _read_safetensors(blob: bytes) -> dict[str, np.ndarray]:
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    data = memoryview(blob)[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        dtype = meta["dtype"]
        if dtype == "BF16":
            arr = _bf16_to_f32(np.frombuffer(data[start:end], "<u2"))
        elif dtype in _SAFETENSORS_DTYPES:
            arr = np.frombuffer(data[start:end], np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<"))
        else:
            raise ValueError(f"tensor {name!r}: unsupported dtype {dtype}")
        out[name] = _as_float32(arr.reshape(meta["shape"]))
    return out


def _as_float32(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float32) if np.issubdtype(arr.dtype, np.floating) else arr.copy()


class _Storage:
    """A storage reference in a torch pickle: its element type and its bytes in the archive."""

    def __init__(self, dtype: Any, raw: bytes) -> None:
        self.dtype, self.raw = dtype, raw

    def array(self) -> np.ndarray:
        if self.dtype == "bf16":
            return _bf16_to_f32(np.frombuffer(self.raw, "<u2"))
        return np.frombuffer(self.raw, np.dtype(self.dtype).newbyteorder("<"))


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    flat = storage.array()
    if not size:
        return _as_float32(flat[offset : offset + 1].reshape(()))
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=[s * item for s in stride])
    return _as_float32(np.array(view))


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only what a tensor state dict needs; anything else is refused (no code runs)."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _TORCH_STORAGES:
            return _TORCH_STORAGES[name]
        raise pickle.UnpicklingError(f"refusing global {module}.{name}: not part of a tensor state dict")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, *_ = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        return _Storage(storage_type, self.archive.read(f"{self.prefix}/data/{key}"))


def _read_torch_zip(file: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(file) as archive:
        pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ValueError("no data.pkl: not a torch.save zip archive")
        prefix = pkl.rsplit("/", 1)[0] if "/" in pkl else ""
        with archive.open(pkl) as f:
            obj = _StateDictUnpickler(f, archive, prefix).load()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError("the archive does not hold a flat state dict of tensors")
    return dict(obj)
