#!/usr/bin/env python3
"""The reference for spotlight-local: the same models on onnxruntime from PyPI (2 intra-op threads).

Development and benchmarking only; nothing at run time needs Python. Needs, in one venv:
``onnxruntime==1.32.0 rapidocr-onnxruntime==1.4.4 pillow numpy`` (rapidocr brings OpenCV).

    python3 reference.py bench --models DIR --image PHOTO [--runs 5] [--det HxW]
        per-model latency on fixed shapes (median of --runs after one warm-up) and the whole-image
        analysis (decode, EfficientNet-Lite0 + open_nsfw with their reference preprocessing, and
        the rapidocr-onnxruntime pipeline), printed as one JSON object.
    python3 reference.py ocr --images DIR
        the rapidocr-onnxruntime pipeline on every PNG in DIR, as TSV lines
        ``image<TAB>line|line|...`` (reading order), the reference the CER test compares with.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

THREADS = 2


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def rapidocr():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=THREADS, inter_op_num_threads=1)


def effnet_input(img: Image.Image) -> np.ndarray:
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.Resampling.BILINEAR)
    w, h = img.size
    x, y = (w - 224) // 2, (h - 224) // 2
    arr = np.asarray(img.crop((x, y, x + 224, y + 224)), dtype=np.float32)
    arr = (arr / 255.0 - 0.498) / 0.502
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


def nsfw_input(img: Image.Image) -> np.ndarray:
    img = img.resize((256, 256), Image.Resampling.BILINEAR).crop((16, 16, 240, 240))
    arr = np.asarray(img, dtype=np.float32)[:, :, ::-1] - np.array([104, 117, 123], np.float32)
    return np.ascontiguousarray(arr[None])


def bench(args) -> int:
    models = Path(args.models)
    sessions = {
        "efficientnet-lite0": (session(models / "efficientnet-lite0.onnx"), (1, 3, 224, 224)),
        "open-nsfw": (session(models / "open-nsfw.onnx"), (1, 224, 224, 3)),
        "text-detection": (session(models / "ch_PP-OCRv4_det_infer.onnx"),
                           (1, 3) + tuple(int(v) for v in args.det.split("x"))),
        "text-angle": (session(models / "ch_ppocr_mobile_v2.0_cls_infer.onnx"), (1, 3, 48, 192)),
        "text-recognition": (session(models / "ch_PP-OCRv4_rec_infer.onnx"), (1, 3, 48, 320)),
    }
    nudenet = models / "nudenet-320n.onnx"
    if nudenet.exists():
        sessions["nudenet-320n"] = (session(nudenet), (1, 3, 320, 320))
    rng = np.random.default_rng(0)
    per_model = {}
    for name, (sess, shape) in sessions.items():
        x = rng.random(shape, dtype=np.float32)
        feed = {sess.get_inputs()[0].name: x}
        per_model[name] = {"shape": list(shape),
                           "ms": median_ms(lambda: sess.run(None, feed), args.runs)}

    ocr = rapidocr()
    eff, _ = sessions["efficientnet-lite0"]
    nsfw, _ = sessions["open-nsfw"]

    def whole():
        img = Image.open(args.image)
        img.load()
        img = img.convert("RGB")
        eff.run(None, {eff.get_inputs()[0].name: effnet_input(img)})
        nsfw.run(None, {nsfw.get_inputs()[0].name: nsfw_input(img)})
        ocr(np.asarray(img)[:, :, ::-1].copy())

    whole_ms = median_ms(whole, args.runs)
    json.dump({"per_model": per_model, "whole_image_ms": whole_ms,
               "onnxruntime": ort.__version__}, sys.stdout)
    print()
    return 0


def ocr_truth(args) -> int:
    ocr = rapidocr()
    for path in sorted(Path(args.images).glob("*.png")):
        result, _ = ocr(str(path))
        lines = [r[1] for r in (result or [])]
        print(f"{path.name}\t{'|'.join(lines)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--models", required=True)
    b.add_argument("--image", required=True)
    b.add_argument("--runs", type=int, default=5)
    b.add_argument("--det", default="736x1088", help="text detection input HxW")
    o = sub.add_parser("ocr")
    o.add_argument("--images", required=True)
    args = parser.parse_args()
    return bench(args) if args.command == "bench" else ocr_truth(args)


if __name__ == "__main__":
    sys.exit(main())
