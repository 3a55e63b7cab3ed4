#!/usr/bin/env python3
"""Check the converted SSD-MobileNetV2 OIDv4 graph against the TFLite interpreter.

Runs both on real photos (the whole image stretched to 300x300, pixels to [-1, 1], as
MediaPipe's graph feeds the model) and compares the two raw outputs element by element; prints
the best class score per photo so the detections can be eyeballed. Exit 1 when an output
differs by more than ``--tolerance``. Needs ``onnxruntime`` and ``pillow`` (requirements.txt)
and, only here, the TFLite interpreter ``ai-edge-litert==2.3.0`` from PyPI:

    npm pack @mediapipe/objectron@0.4.1675468480 --pack-destination /tmp/ssd
    python3 tools/models/convert_ssd_mobilenetv2_oidv4.py \\
        --tarball /tmp/ssd/mediapipe-objectron-0.4.1675468480.tgz \\
        --out /tmp/ssd/ssd.onnx --tflite-out /tmp/ssd/ssd.tflite
    python3 tools/models/verify_ssd_mobilenetv2_oidv4.py --onnx /tmp/ssd/ssd.onnx \\
        --tflite /tmp/ssd/ssd.tflite crates/local/tests/photos/*.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

LABELS = Path(__file__).resolve().parents[2] / "assets" / "oidv4-labels.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", required=True, type=Path)
    parser.add_argument("--tflite", required=True, type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("photos", nargs="+", type=Path)
    args = parser.parse_args(argv)

    from ai_edge_litert.interpreter import Interpreter

    names = {c["index"]: c["name"] for c in json.loads(LABELS.read_text())["labels"]}
    interpreter = Interpreter(model_path=str(args.tflite))
    interpreter.allocate_tensors()
    tfl_input = interpreter.get_input_details()[0]["index"]
    tfl_outputs = interpreter.get_output_details()
    session = ort.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"])
    worst = 0.0
    for path in args.photos:
        image = Image.open(path).convert("RGB").resize((300, 300), Image.BILINEAR)
        x = (np.asarray(image, dtype=np.float32) / 127.5 - 1.0)[None]
        interpreter.set_tensor(tfl_input, x)
        interpreter.invoke()
        reference = {o["name"]: interpreter.get_tensor(o["index"]) for o in tfl_outputs}
        ours = dict(zip([o.name for o in session.get_outputs()],
                        session.run(None, {"normalized_input_image_tensor": x})))
        diffs = {k: float(np.abs(reference[k] - ours[k]).max()) for k in ours}
        worst = max(worst, *diffs.values())
        scores = 1 / (1 + np.exp(-ours["raw_outputs/class_predictions"][0]))
        best = scores[:, 1:].max(0)
        top = sorted(((float(best[i]), names[i + 1]) for i in range(len(best))), reverse=True)[:3]
        print(f"{path.name}: max |diff| {diffs}; best {[(n, round(s, 3)) for s, n in top]}")
    print(f"largest difference {worst:.3g} (tolerance {args.tolerance})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
