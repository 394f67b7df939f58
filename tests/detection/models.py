"""Small ONNX detection models built with onnx.helper, whose output depends on the picture.

No weights can be downloaded in tests, so these stand in for a trained detector, in each output layout
nvr reads (detection.decode): a "person" is red pixels, a "car" blue ones. Each class's score is the
share of its pixels in the input times SCORE_GAIN (at most 1), and its box is the smallest one around
them, in input pixels. Two candidates (person, car), so NMS and class filtering have something to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SCORE_GAIN = 4.0  # a red square filling a quarter of the crop scores 1.0
CLASSES = 80  # COCO's, as the default labels file
PERSON, CAR = 0, 2
BIG = 1e6


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


class Graph:
    """A few helpers to write a graph as a list of nodes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, value: object, dtype: type = np.float32) -> str:
        self._n += 1
        name = f"c{self._n}"
        self.inits.append(_const(name, np.asarray(value, dtype)))
        return name

    def op(self, kind: str, inputs: list[str], **attrs: object) -> str:
        self._n += 1
        out = f"t{self._n}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out


def _colour_mask(g: Graph, r: str, gr: str, b: str, colour: str) -> str:
    """1.0 where a pixel is strongly red (or blue), else 0.0: [1, 1, H, W]."""
    hi, lo = g.const(0.6), g.const(0.35)
    strong = {"red": r, "blue": b}[colour]
    weak = [x for x in (r, gr, b) if x != strong]
    mask = g.op("Greater", [strong, hi])
    for other in weak:
        mask = g.op("And", [mask, g.op("Less", [other, lo])])
    return g.op("Cast", [mask], to=TensorProto.FLOAT)


def _box_and_score(g: Graph, mask: str, size: int) -> tuple[str, str, str, str, str]:
    """(x0, y0, x1, y1, score) of the pixels in `mask`, each a [1] tensor, in input pixels."""
    index = g.const(np.arange(size, dtype=np.float32))
    big = g.const(BIG)
    one = g.const(1.0)

    def span(axis: int) -> tuple[str, str]:
        profile = g.op("ReduceMax", [mask, g.const([axis], np.int64)], keepdims=0)  # [1, 1, size]
        profile = g.op("Reshape", [profile, g.const([size], np.int64)])
        low = g.op(
            "ReduceMin",
            [g.op("Add", [g.op("Mul", [index, profile]), g.op("Mul", [big, g.op("Sub", [one, profile])])])],
            keepdims=1,
        )
        high = g.op("Add", [g.op("ReduceMax", [g.op("Mul", [index, profile])], keepdims=1), one])
        return low, high

    x0, x1 = span(2)  # columns: reduce over rows
    y0, y1 = span(3)
    share = g.op("ReduceMean", [mask], keepdims=0)
    score = g.op("Min", [g.op("Mul", [g.op("Reshape", [share, g.const([1], np.int64)]), g.const(SCORE_GAIN)]), one])
    return x0, y0, x1, y1, score


def _colours(g: Graph) -> tuple[str, str, str]:
    r, gr, b = "r", "g", "b"
    g.nodes.append(helper.make_node("Split", ["images", g.const([1, 1, 1], np.int64)], [r, gr, b], axis=1))
    return r, gr, b


def _model(g: Graph, outputs: list[onnx.ValueInfoProto], size: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        g.nodes,
        "nvr-test-detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        outputs,
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def yolo_model(size: int = 320) -> onnx.ModelProto:
    """YOLOv8-style output [1, 4 + 80, 2]: candidate 0 the red box (person), 1 the blue one (car)."""
    g = Graph()
    r, gr, b = _colours(g)
    columns = []
    for colour, cls in (("red", PERSON), ("blue", CAR)):
        x0, y0, x1, y1, score = _box_and_score(g, _colour_mask(g, r, gr, b, colour), size)
        half = g.const(0.5)
        cx = g.op("Mul", [g.op("Add", [x0, x1]), half])
        cy = g.op("Mul", [g.op("Add", [y0, y1]), half])
        w, h = g.op("Sub", [x1, x0]), g.op("Sub", [y1, y0])
        onehot = np.zeros(CLASSES, np.float32)
        onehot[cls] = 1
        scores = g.op("Mul", [g.const(onehot), score])  # [80]
        column = g.op("Concat", [cx, cy, w, h, scores], axis=0)  # [84]
        columns.append(g.op("Reshape", [column, g.const([1, 4 + CLASSES, 1], np.int64)]))
    g.nodes.append(helper.make_node("Concat", columns, ["output0"], axis=2))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + CLASSES, 2])
    return _model(g, [out], size)


def boxes_model(size: int = 320) -> onnx.ModelProto:
    """SSD / RT-DETR-style outputs: boxes [1, 2, 4] (x0, y0, x1, y1, 0..1), scores [1, 2], classes [1, 2]."""
    g = Graph()
    r, gr, b = _colours(g)
    boxes, scores = [], []
    scale = g.const(1.0 / size)
    for colour in ("red", "blue"):
        x0, y0, x1, y1, score = _box_and_score(g, _colour_mask(g, r, gr, b, colour), size)
        box = g.op("Mul", [g.op("Concat", [x0, y0, x1, y1], axis=0), scale])
        boxes.append(g.op("Reshape", [box, g.const([1, 1, 4], np.int64)]))
        scores.append(g.op("Reshape", [score, g.const([1, 1], np.int64)]))
    g.nodes.append(helper.make_node("Concat", boxes, ["boxes"], axis=1))
    g.nodes.append(helper.make_node("Concat", scores, ["scores"], axis=1))
    g.nodes.append(helper.make_node("Identity", [g.const([[PERSON, CAR]], np.int64)], ["classes"]))
    outs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2]),
        helper.make_tensor_value_info("classes", TensorProto.INT64, [1, 2]),
    ]
    return _model(g, outs, size)


def wrong_shape_model(size: int = 64) -> onnx.ModelProto:
    """A model whose output nvr cannot read: [1, 10, 5] (not 4 + 80 rows)."""
    g = Graph()
    pooled = g.op("ReduceMean", ["images"], keepdims=0)
    g.nodes.append(helper.make_node("Expand", [pooled, g.const([1, 10, 5], np.int64)], ["output0"]))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 10, 5])
    return _model(g, [out], size)


FORMATS = {"yolo": yolo_model, "boxes": boxes_model}


def save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    path = folder / name
    onnx.save(model, str(path))
    return path
