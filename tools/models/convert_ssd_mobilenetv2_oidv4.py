#!/usr/bin/env python3
"""Convert MediaPipe's SSD-MobileNetV2 Open Images v4 detector (TFLite, fp16) to ONNX.

Input: the npm tarball ``@mediapipe/objectron@0.4.1675468480`` (SHA-256 pinned below). The
detector is not a file of its own in that package: it sits in the Emscripten asset bundle
``package/objectron_solution_packed_assets.data`` from byte 184 to the end (the byte ranges are
in ``objectron_solution_packed_assets_loader.js``; bytes 0-184 are the label map). Get it with
npm, the registry's client:

    npm pack @mediapipe/objectron@0.4.1675468480 --pack-destination /tmp/ssd
    python3 tools/models/convert_ssd_mobilenetv2_oidv4.py \\
        --tarball /tmp/ssd/mediapipe-objectron-0.4.1675468480.tgz \\
        --out /tmp/ssd/ssd-mobilenetv2-oidv4.onnx

Output: an ONNX graph (opset 13, IR version 7) with input ``normalized_input_image_tensor``
float32 ``[1, 300, 300, 3]`` (NHWC RGB in [-1, 1], the whole image stretched to 300x300) and
the model's two raw outputs, unchanged: ``raw_outputs/box_encodings`` float32 ``[1, 1917, 4]``
(y, x, h, w offsets against the SSD anchors) and ``raw_outputs/class_predictions`` float32
``[1, 1917, 24]`` (logits; class 0 is background). Anchors, decoding and NMS are done by the
caller (crates/local/src/objects.rs), as MediaPipe's graph does outside the model.

The graph uses six TFLite operators only (DEQUANTIZE of fp16 weights, CONV_2D,
DEPTHWISE_CONV_2D, ADD, RESHAPE, CONCATENATION), so the flatbuffer is read by the small parser
below rather than by a TensorFlow install: nothing but the pinned ``numpy`` and ``onnx`` is
needed. fp16 weights are widened to fp32 (exact), TFLite's NHWC layout becomes ONNX's NCHW with
one transpose at the input and one before each RESHAPE, and SAME padding becomes explicit pads
computed from the static shapes. No timestamp or tool version is written and the protobuf is
serialised deterministically, so the same tarball gives the same SHA-256 (printed at the end).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NPM_PACKAGE = "@mediapipe/objectron@0.4.1675468480"
TARBALL_SHA256 = "fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c"
BUNDLE_MEMBER = "package/objectron_solution_packed_assets.data"
TFLITE_OFFSET = 184
TFLITE_SHA256 = "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6"
TFLITE_NAME = "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"

OPSET = 13
IR_VERSION = 7
PRODUCER = "spotlight tools/models/convert_ssd_mobilenetv2_oidv4.py"
PRODUCER_VERSION = "1"

# TFLite schema numbers (tensorflow/lite/schema/schema.fbs).
OP_ADD, OP_CONCATENATION, OP_CONV_2D, OP_DEPTHWISE_CONV_2D, OP_DEQUANTIZE, OP_RESHAPE = (
    0, 2, 3, 4, 6, 22)
TYPE_FLOAT32, TYPE_FLOAT16, TYPE_INT32 = 0, 1, 2
PADDING_SAME, PADDING_VALID = 0, 1
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3


class Table:
    """One flatbuffer table: fields are read by their index in the schema."""

    def __init__(self, buf: bytes, pos: int):
        self.buf = buf
        self.pos = pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        vsize = struct.unpack_from("<H", buf, vtable)[0]
        self.fields = [struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0]
                       for i in range((vsize - 4) // 2)]

    def _at(self, field: int) -> int | None:
        if field < len(self.fields) and self.fields[field]:
            return self.pos + self.fields[field]
        return None

    def scalar(self, field: int, fmt: str, default=0):
        at = self._at(field)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _target(self, field: int) -> int | None:
        at = self._at(field)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, field: int) -> "Table | None":
        at = self._target(field)
        return None if at is None else Table(self.buf, at)

    def _vector(self, field: int) -> tuple[int, int]:
        at = self._target(field)
        if at is None:
            return 0, 0
        return at + 4, struct.unpack_from("<I", self.buf, at)[0]

    def tables(self, field: int) -> list["Table"]:
        start, n = self._vector(field)
        return [Table(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
                for i in range(n)]

    def ints(self, field: int) -> list[int]:
        start, n = self._vector(field)
        return list(struct.unpack_from(f"<{n}i", self.buf, start)) if n else []

    def raw(self, field: int) -> bytes:
        start, n = self._vector(field)
        return self.buf[start:start + n]

    def string(self, field: int) -> str:
        return self.raw(field).decode("utf-8")


class TfliteTensor:
    def __init__(self, t: Table, buffers: list[Table]):
        self.shape = t.ints(0)
        self.type = t.scalar(1, "b")
        self.name = t.string(3)
        data = buffers[t.scalar(2, "I")].raw(0)
        self.data = data if data else None

    def constant(self) -> np.ndarray:
        if self.data is None:
            raise ValueError(f"tensor {self.name} has no data")
        dtype = {TYPE_FLOAT32: "<f4", TYPE_FLOAT16: "<f2", TYPE_INT32: "<i4"}[self.type]
        return np.frombuffer(self.data, dtype=dtype).reshape(self.shape)


def extract_tflite(tarball: Path) -> bytes:
    """The detector's bytes out of the npm tarball, both hashes checked."""
    blob = tarball.read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    if actual != TARBALL_SHA256:
        raise ValueError(f"{tarball} has SHA-256 {actual}, expected {TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        member = archive.extractfile(BUNDLE_MEMBER)
        if member is None:
            raise ValueError(f"{tarball} has no {BUNDLE_MEMBER}")
        bundle = member.read()
    model = bundle[TFLITE_OFFSET:]
    actual = hashlib.sha256(model).hexdigest()
    if actual != TFLITE_SHA256:
        raise ValueError(f"{BUNDLE_MEMBER}[{TFLITE_OFFSET}:] has SHA-256 {actual}, "
                         f"expected {TFLITE_SHA256}")
    return model


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding: the output is ceil(size / stride), the extra pixel goes at the end."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class Converter:
    def __init__(self, model_bytes: bytes):
        root = Table(model_bytes, struct.unpack_from("<I", model_bytes, 0)[0])
        self.codes = [max(c.scalar(3, "i"), c.scalar(0, "b")) for c in root.tables(1)]
        subgraphs = root.tables(2)
        if len(subgraphs) != 1:
            raise ValueError(f"expected one subgraph, found {len(subgraphs)}")
        self.graph = subgraphs[0]
        buffers = root.tables(4)
        self.tensors = [TfliteTensor(t, buffers) for t in self.graph.tables(0)]
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.constants: dict[int, np.ndarray] = {}
        # ONNX names of the tensors computed so far, and which of them are NCHW (the
        # convolutions' activations); the others keep TFLite's layout.
        self.values: dict[int, str] = {}
        self.nchw: set[int] = set()

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, index: int) -> np.ndarray:
        if index in self.constants:
            return self.constants[index]
        tensor = self.tensors[index]
        if tensor.type != TYPE_FLOAT32:
            raise ValueError(f"weight {tensor.name} is type {tensor.type}, not float32")
        return tensor.constant().astype(np.float32)

    def activation(self, x: str, fused: int, name: str) -> str:
        if fused == ACT_NONE:
            return x
        if fused == ACT_RELU6:
            self.nodes.append(helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [name],
                                               name=name))
        elif fused == ACT_RELU:
            self.nodes.append(helper.make_node("Relu", [x], [name], name=name))
        else:
            raise ValueError(f"unsupported fused activation {fused}")
        return name

    def conv(self, i: int, op: Table, depthwise: bool) -> None:
        x_idx, w_idx, b_idx = op.ints(1)
        (out_idx,) = op.ints(2)
        opts = op.table(4)
        if opts is None:
            raise ValueError(f"operator {i} has no options")
        padding = opts.scalar(0, "b")
        stride_w, stride_h = opts.scalar(1, "i", 1), opts.scalar(2, "i", 1)
        if depthwise:
            multiplier = opts.scalar(3, "i", 1)
            fused = opts.scalar(4, "b")
            dil_w, dil_h = opts.scalar(5, "i", 1), opts.scalar(6, "i", 1)
        else:
            fused = opts.scalar(3, "b")
            dil_w, dil_h = opts.scalar(4, "i", 1), opts.scalar(5, "i", 1)
        w = self.weight(w_idx)
        in_shape = self.tensors[x_idx].shape  # NHWC
        if depthwise:
            # [1, kh, kw, C*M] -> [C*M, 1, kh, kw], one group per input channel.
            if multiplier != 1:
                raise ValueError(f"operator {i}: depth multiplier {multiplier}")
            w = np.ascontiguousarray(w.transpose(3, 0, 1, 2))
            groups = in_shape[3]
        else:
            # [O, kh, kw, I] -> [O, I, kh, kw].
            w = np.ascontiguousarray(w.transpose(0, 3, 1, 2))
            groups = 1
        kh, kw = w.shape[2], w.shape[3]
        if padding == PADDING_SAME:
            top, bottom = same_pads(in_shape[1], kh, stride_h, dil_h)
            left, right = same_pads(in_shape[2], kw, stride_w, dil_w)
        elif padding == PADDING_VALID:
            top = bottom = left = right = 0
        else:
            raise ValueError(f"operator {i}: padding {padding}")
        name = f"op{i}"
        w_name = self.const(name + ".weight", w)
        b_name = self.const(name + ".bias", self.weight(b_idx).reshape(-1))
        self.nodes.append(helper.make_node(
            "Conv", [self.values[x_idx], w_name, b_name], [name], name=name,
            kernel_shape=[kh, kw], strides=[stride_h, stride_w],
            pads=[top, left, bottom, right], dilations=[dil_h, dil_w], group=groups))
        self.values[out_idx] = self.activation(name, fused, name + ".act")
        self.nchw.add(out_idx)

    def run(self) -> onnx.ModelProto:
        self.const("relu6.min", np.array(0.0, dtype=np.float32))
        self.const("relu6.max", np.array(6.0, dtype=np.float32))
        (input_idx,) = self.graph.ints(1)
        input_t = self.tensors[input_idx]
        self.nodes.append(helper.make_node("Transpose", [input_t.name], ["input.nchw"],
                                           name="input.nchw", perm=[0, 3, 1, 2]))
        self.values[input_idx] = "input.nchw"
        self.nchw.add(input_idx)
        for i, op in enumerate(self.graph.tables(3)):
            code = self.codes[op.scalar(0, "I")]
            ins, outs = op.ints(1), op.ints(2)
            if code == OP_DEQUANTIZE:
                src = self.tensors[ins[0]]
                if src.type != TYPE_FLOAT16:
                    raise ValueError(f"operator {i}: DEQUANTIZE of type {src.type}")
                self.constants[outs[0]] = src.constant().astype(np.float32)
            elif code in (OP_CONV_2D, OP_DEPTHWISE_CONV_2D):
                self.conv(i, op, code == OP_DEPTHWISE_CONV_2D)
            elif code == OP_ADD:
                opts = op.table(4)
                fused = opts.scalar(0, "b") if opts is not None else ACT_NONE
                name = f"op{i}"
                self.nodes.append(helper.make_node(
                    "Add", [self.values[ins[0]], self.values[ins[1]]], [name], name=name))
                self.values[outs[0]] = self.activation(name, fused, name + ".act")
                if ins[0] in self.nchw and ins[1] in self.nchw:
                    self.nchw.add(outs[0])
                elif ins[0] in self.nchw or ins[1] in self.nchw:
                    raise ValueError(f"operator {i}: ADD of NCHW and NHWC tensors")
            elif code == OP_RESHAPE:
                name = f"op{i}"
                source = self.values[ins[0]]
                if ins[0] in self.nchw:
                    # Back to NHWC first: the reshape's element order is TFLite's.
                    self.nodes.append(helper.make_node(
                        "Transpose", [source], [name + ".nhwc"], name=name + ".nhwc",
                        perm=[0, 2, 3, 1]))
                    source = name + ".nhwc"
                shape = self.const(name + ".shape",
                                   np.array(self.tensors[outs[0]].shape, dtype=np.int64))
                self.nodes.append(helper.make_node("Reshape", [source, shape], [name],
                                                   name=name))
                self.values[outs[0]] = name
            elif code == OP_CONCATENATION:
                opts = op.table(4)
                axis = opts.scalar(0, "i") if opts is not None else 0
                fused = opts.scalar(1, "b") if opts is not None else ACT_NONE
                if any(t in self.nchw for t in ins):
                    raise ValueError(f"operator {i}: CONCATENATION of NCHW tensors")
                name = f"op{i}"
                self.nodes.append(helper.make_node(
                    "Concat", [self.values[t] for t in ins], [name], name=name, axis=axis))
                self.values[outs[0]] = self.activation(name, fused, name + ".act")
            else:
                raise ValueError(f"operator {i}: unsupported TFLite builtin {code}")

        outputs = []
        for out_idx in self.graph.ints(2):
            tensor = self.tensors[out_idx]
            self.nodes.append(helper.make_node("Identity", [self.values[out_idx]],
                                               [tensor.name], name=tensor.name))
            outputs.append(helper.make_tensor_value_info(tensor.name, TensorProto.FLOAT,
                                                         tensor.shape))
        graph = helper.make_graph(
            self.nodes, "ssd_mobilenetv2_oidv4",
            inputs=[helper.make_tensor_value_info(input_t.name, TensorProto.FLOAT,
                                                  input_t.shape)],
            outputs=outputs, initializer=self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
            producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
            doc_string=(f"MediaPipe SSD-MobileNetV2 Open Images v4 detector ({TFLITE_NAME}), "
                        f"converted from npm {NPM_PACKAGE}."))
        helper.set_model_props(model, {
            "source_package": f"npm {NPM_PACKAGE}",
            "source_file": f"{BUNDLE_MEMBER} from byte {TFLITE_OFFSET} ({TFLITE_NAME})",
            "source_sha256": TFLITE_SHA256,
            "input": "normalized_input_image_tensor: float32 [1,300,300,3] RGB NHWC in [-1,1]",
            "output": ("raw_outputs/box_encodings [1,1917,4] (y,x,h,w vs SSD anchors); "
                       "raw_outputs/class_predictions [1,1917,24] logits, 0 = background"),
        })
        return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert MediaPipe's SSD-MobileNetV2 OIDv4 TFLite detector to ONNX.",
        epilog=f"Get the input with: npm pack {NPM_PACKAGE}")
    parser.add_argument("--tarball", required=True, type=Path, help="the npm tarball")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    parser.add_argument("--tflite-out", type=Path,
                        help="also write the extracted .tflite (for checking against TFLite)")
    args = parser.parse_args(argv)

    try:
        model_bytes = extract_tflite(args.tarball)
        model = Converter(model_bytes).run()
    except (OSError, ValueError, KeyError, tarfile.TarError, struct.error) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    onnx.checker.check_model(model, full_check=True)
    if args.tflite_out is not None:
        args.tflite_out.write_bytes(model_bytes)
    data = model.SerializeToString(deterministic=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {len(data):,} bytes, {len(model.graph.node)} nodes",
          file=sys.stderr)
    print(f"{hashlib.sha256(data).hexdigest()}  {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
