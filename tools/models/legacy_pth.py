"""Read a PyTorch *legacy* (non-zip) ``.pth`` checkpoint without PyTorch.

The legacy format, written by ``torch.save(..., _use_new_zipfile_serialization=False)``
and by every PyTorch before 1.6, is a byte stream of:

1. a pickle of the magic number ``0x1950a86a20f9469cfc6c``;
2. a pickle of the protocol version (1001);
3. a pickle of a "sys info" dict (``little_endian``, ``type_sizes``);
4. a pickle of the saved object (here an ``OrderedDict`` state dict); every tensor in it is
   rebuilt through ``torch._utils._rebuild_tensor_v2`` from a *storage* named by a persistent
   id ``('storage', storage_class, key, location, numel, view_metadata)``;
5. a pickle of the list of storage keys, in the order their data follows;
6. for each of those keys: the element count as a little-endian int64, then the raw
   little-endian elements.

This module parses that with the standard ``pickle`` module and a restricted ``Unpickler``
that resolves only the handful of globals such a checkpoint needs (anything else is refused,
so a hostile file cannot run code), and returns ``numpy`` arrays.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class name -> numpy little-endian dtype.
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.XxxStorage``: only its element type matters."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])


@dataclass
class _StorageRef:
    """A storage named by a persistent id; its bytes follow the pickles."""

    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor waiting for its storage's bytes."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key} was never read")
        itemsize = data.dtype.itemsize
        if not self.size:
            return data[self.offset].copy()
        # Bounds check before as_strided, which trusts its arguments blindly.
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if min(self.size) > 0 and (self.offset < 0 or last >= data.size):
            raise ValueError(f"tensor view exceeds storage {self.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
            writeable=False,
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _CheckpointUnpickler(pickle.Unpickler):
    """Resolves only what a state-dict checkpoint needs; refuses every other global."""

    def __init__(self, file, storages: dict[str, _StorageRef]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r}")
        ref = self._storages.get(key)
        if ref is None:
            ref = _StorageRef(key, storage_type.dtype, int(numel))
            self._storages[key] = ref
        return ref


def _load_plain(stream: io.BytesIO):
    """Unpickle one of the small header pickles, which reference no global at all."""
    return _CheckpointUnpickler(stream, {}).load()


def load_state_dict(data: bytes) -> "collections.OrderedDict[str, np.ndarray]":
    """Parse a legacy ``.pth`` checkpoint held in ``data``; return name -> numpy array.

    Raises ``ValueError`` (or ``pickle.UnpicklingError``) when the bytes are not a legacy
    checkpoint of plain tensors.
    """
    stream = io.BytesIO(data)
    if _load_plain(stream) != MAGIC_NUMBER:
        raise ValueError("not a legacy PyTorch checkpoint (bad magic number; a zip "
                         "checkpoint needs a zip reader instead)")
    if _load_plain(stream) != PROTOCOL_VERSION:
        raise ValueError("unsupported legacy checkpoint protocol version")
    sys_info = _load_plain(stream)
    if not sys_info.get("little_endian", False):
        raise ValueError("big-endian checkpoints are not supported")

    storages: dict[str, _StorageRef] = {}
    obj = _CheckpointUnpickler(stream, storages).load()
    keys = _load_plain(stream)
    if sorted(keys) != sorted(storages):
        raise ValueError("storage key list does not match the storages referenced")

    for key in keys:
        ref = storages[key]
        header = stream.read(8)
        if len(header) != 8:
            raise ValueError(f"truncated file before storage {key}")
        (numel,) = struct.unpack("<q", header)
        if numel != ref.numel:
            raise ValueError(f"storage {key}: {numel} elements on disk, {ref.numel} expected")
        nbytes = numel * ref.dtype.itemsize
        raw = stream.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"truncated storage {key}")
        ref.data = np.frombuffer(raw, dtype=ref.dtype)
    if stream.read(1):
        raise ValueError("trailing bytes after the last storage")

    if not isinstance(obj, dict):
        raise ValueError(f"expected a state dict, found {type(obj).__name__}")
    out: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
    for name, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise ValueError(f"{name}: expected a tensor, found {type(value).__name__}")
        out[name] = value.materialize()
    return out
