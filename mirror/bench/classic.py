"""The classic CycleGAN generator as an ONNX model with random weights, for `mirror bench
--compare-classic`: the baseline the real-time generator is measured against.

It is the trainer's `generator("resnet9", cond=1)` (64 channels, 7x7 stem, two stride-2
downsamplings, nine residual blocks of two 3x3 convolutions, nearest-upsampling decoder, tanh),
with the condition tiled into a fourth input channel as the StarGAN generators take it, at 128 px,
fp32. Timing needs no trained weights, and the app must run without torch and without the `onnx`
package, so the graph is written here directly in ONNX's protobuf wire format: a few message types
with field numbers from onnx.proto. The tests check it with onnx's checker and against torch.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from ..contract import NORMALISATION, card_shapes, write_card

OPSET = 17
IR_VERSION = 8  # readable by any onnxruntime >= 1.14
NAME = "classic-resnet9"
_FLOAT, _INT64 = 1, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7  # AttributeProto.AttributeType


# -- protobuf wire format ------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s are ten-byte two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _int(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n)


def _bytes(field: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float(field: int, x: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", x)


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian)."""
    kind = {np.dtype(np.float32): _FLOAT, np.dtype(np.int64): _INT64}[array.dtype]
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, kind) + _bytes(8, name)
            + _bytes(9, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()))


def _attribute(name: str, value) -> bytes:
    """AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20."""
    if isinstance(value, float):
        body = _float(2, value) + _int(20, _ATTR_FLOAT)
    elif isinstance(value, int):
        body = _int(3, value) + _int(20, _ATTR_INT)
    elif isinstance(value, str):
        body = _bytes(4, value) + _int(20, _ATTR_STRING)
    else:
        body = b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    return _bytes(1, name) + body


def _node(op: str, inputs: list[str], outputs: list[str], **attrs) -> bytes:
    """NodeProto: input 1, output 2, name 3, op_type 4, attribute 5."""
    return (b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
            + _bytes(3, outputs[0]) + _bytes(4, op) + b"".join(_bytes(5, _attribute(k, v)) for k, v in attrs.items()))


def _value_info(name: str, shape: list[int | str]) -> bytes:
    """ValueInfoProto name 1, type 2 -> TypeProto tensor_type 1 -> elem_type 1, shape 2 ->
    TensorShapeProto dim 1 -> dim_value 1 | dim_param 2."""
    dims = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, _FLOAT) + _bytes(2, dims)))


# -- the network ---------------------------------------------------------------------------------

class _Graph:
    """Collects nodes and weights; `weights` (in the order of torch's `parameters()`) or, when
    None, random ones like torch's default initialisation."""

    def __init__(self, weights: Iterator[np.ndarray] | None, seed: int):
        self.weights, self.rng = weights, np.random.default_rng(seed)
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self.count = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def param(self, shape: tuple[int, ...], fan_in: int, fill: float | None = None) -> str:
        if self.weights is not None:
            value = np.asarray(next(self.weights), np.float32).reshape(shape)
        elif fill is not None:
            value = np.full(shape, fill, np.float32)
        else:
            bound = 1 / np.sqrt(fan_in)
            value = self.rng.uniform(-bound, bound, shape).astype(np.float32)
        name = self.name("w")
        self.inits.append(_tensor(name, value))
        return name

    def const(self, value: np.ndarray) -> str:
        name = self.name("c")
        self.inits.append(_tensor(name, value))
        return name

    def op(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, bias: bool = False) -> str:
        w = self.param((cout, cin, k, k), cin * k * k)
        inputs = [x, w] + ([self.param((cout,), cin * k * k)] if bias else [])
        p = (k - 1) // 2 if stride == 1 else 1
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p])

    def norm_relu(self, x: str, ch: int, relu: bool = True) -> str:
        x = self.op("InstanceNormalization", [x, self.param((ch,), 1, 1.0), self.param((ch,), 1, 0.0)], epsilon=1e-5)
        return self.op("Relu", [x]) if relu else x


def resnet9(size: int = 128, ch: int = 64, blocks: int = 9, seed: int = 0,
            weights: Iterator[np.ndarray] | None = None) -> bytes:
    """The serialised ONNX model: inputs image [N, 3, size, size] and condition [N, 1], output
    [N, 3, size, size], in the runtime's [-1, 1] RGB."""
    g = _Graph(None if weights is None else iter(weights), seed)
    tiled = g.op("Mul", [g.op("Reshape", ["condition", g.const(np.array([-1, 1, 1, 1], np.int64))]),
                         g.const(np.ones((1, 1, size, size), np.float32))])
    x = g.op("Concat", ["image", tiled], axis=1)
    x = g.norm_relu(g.conv(x, 4, ch, 7), ch)
    for i in range(2):
        c = ch * 2**i
        x = g.norm_relu(g.conv(x, c, 2 * c, 4, stride=2), 2 * c)
    c = 4 * ch
    for _ in range(blocks):
        h = g.norm_relu(g.conv(x, c, c, 3), c)
        h = g.norm_relu(g.conv(h, c, c, 3), c, relu=False)
        x = g.op("Add", [x, h])
    scales = g.const(np.array([1, 1, 2, 2], np.float32))
    for i in range(2):
        c = ch * 2 ** (2 - i)
        x = g.op("Resize", [x, "", scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                 nearest_mode="floor")
        x = g.norm_relu(g.conv(x, c, c // 2, 3), c // 2)
    x = g.op("Tanh", [g.conv(x, ch, 3, 7, bias=True)])
    g.nodes.append(_node("Identity", [x], ["output"]))
    graph = (b"".join(_bytes(1, n) for n in g.nodes) + _bytes(2, NAME) + b"".join(_bytes(5, t) for t in g.inits)
             + _bytes(11, _value_info("image", ["N", 3, size, size])) + _bytes(11, _value_info("condition", ["N", 1]))
             + _bytes(12, _value_info("output", ["N", 3, size, size])))
    # ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2).
    return _int(1, IR_VERSION) + _bytes(2, "mirror.classic") + _bytes(7, graph) + _bytes(8, _bytes(1, "") + _int(2, OPSET))


def export(folder: Path, size: int = 128, margin: float = 0.1, seed: int = 0) -> Path:
    """Writes `classic-resnet9.onnx` and its card (a gender model, as the runtime reads it) into
    `folder`; returns the .onnx path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.onnx"
    path.write_bytes(resnet9(size, seed=seed))
    card = {"name": NAME, "task": "gender", "format": "onnx-fp32",
            "architecture": "classic CycleGAN generator: 64ch ResNet-9 (3x3 convolutions), condition channel",
            "align": {"size": size, "margin": margin}, "normalisation": dict(NORMALISATION),
            **dict(zip(("inputs", "outputs"), card_shapes("gender", size))),
            "training": {"steps": 0, "weights": "random: for timing only"}}
    write_card(folder / f"{NAME}.json", card)
    return path
