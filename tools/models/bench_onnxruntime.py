#!/usr/bin/env python3
"""Time an ONNX model with onnxruntime (CPU) on a fixed input shape: the reference speed
that Spotlight's in-process inference is measured against.

    python3 tools/models/bench_onnxruntime.py --model /tmp/effnet/efficientnet-lite0.onnx \\
        --shape 1,3,224,224 --threads 2 --runs 20

Prints the median, minimum and maximum wall time of ``--runs`` single inferences after
``--warmup`` untimed ones. The input is random (seeded) float32 data: the models measured
here do the same work whatever the pixel values.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Median latency of an ONNX model "
                                                 "under onnxruntime (CPU).")
    parser.add_argument("--model", required=True, help="ONNX file")
    parser.add_argument("--shape", default="1,3,224,224",
                        help="input shape, comma-separated (default: %(default)s)")
    parser.add_argument("--input", default=None,
                        help="input name (default: the model's first input)")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed runs first (default: %(default)s)")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = args.input or session.get_inputs()[0].name
    shape = [int(d) for d in args.shape.split(",")]
    feed = {name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}

    for _ in range(args.warmup):
        session.run(None, feed)
    times_ms = []
    for _ in range(args.runs):
        start = time.perf_counter()
        session.run(None, feed)
        times_ms.append((time.perf_counter() - start) * 1000.0)
    print(f"{args.model}: input {name} {shape}, onnxruntime {ort.__version__}, "
          f"{args.threads} threads, {args.runs} runs: median {statistics.median(times_ms):.2f} ms "
          f"(min {min(times_ms):.2f}, max {max(times_ms):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
