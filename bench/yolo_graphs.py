"""YOLOv8n and YOLOv9-t as ONNX graphs with random weights, built with onnx.helper (no torch, no download).

An untrained export has the real architecture, and so the real inference cost: weights change no
operation count. Ultralytics cannot be installed here (it needs torch), so these graphs are written
from its model files (ultralytics/cfg/models/v8/yolov8.yaml at scale n, v9/yolov9t.yaml) as its ONNX
export lays them out: every Conv-BatchNorm-SiLU is one Conv with a bias (BatchNorm folded, as the
exporter does) followed by x * sigmoid(x); RepConv is fused to one 3x3 Conv; the Detect head decodes
its distribution (DFL: softmax over 16 bins, a fixed 1x1 conv) and the anchors into the `[1, 84, N]`
output nvr reads. `parameters()` counts the weights, to compare with Ultralytics' published figures
(YOLOv8n 3.2 M, YOLOv9t 2.0 M parameters, with their BatchNorms).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = 80
REG_MAX = 16
STRIDES = (8, 16, 32)


class Net:
    def __init__(self, seed: int = 0) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self.params = 0
        self._n = 0

    def name(self, prefix: str = "t") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: np.ndarray) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, inputs: list[str], **attrs: object) -> str:
        out = self.name()
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def weight(self, *shape: int) -> str:
        self.params += int(np.prod(shape))
        fan_in = int(np.prod(shape[1:])) or 1
        return self.const((self.rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32))

    def conv2d(self, x: str, c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True) -> str:
        w, b = self.weight(c2, c1, k, k), self.weight(c2)
        y = self.op("Conv", [x, w, b], kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4)
        return self.op("Mul", [y, self.op("Sigmoid", [y])]) if act else y

    # Ultralytics' blocks ------------------------------------------------------------------------
    def split(self, x: str, sizes: list[int]) -> list[str]:
        outs = [self.name() for _ in sizes]
        self.nodes.append(helper.make_node("Split", [x, self.const(np.array(sizes, np.int64))], outs, axis=1))
        return outs

    def cat(self, xs: list[str]) -> str:
        return self.op("Concat", xs, axis=1)

    def bottleneck(self, x: str, c: int, shortcut: bool) -> str:
        y = self.conv2d(self.conv2d(x, c, c, 3), c, c, 3)
        return self.op("Add", [x, y]) if shortcut else y

    def c2f(self, x: str, c1: int, c2: int, n: int, shortcut: bool) -> str:
        c = c2 // 2
        ys = self.split(self.conv2d(x, c1, 2 * c), [c, c])
        for _ in range(n):
            ys.append(self.bottleneck(ys[-1], c, shortcut))
        return self.conv2d(self.cat(ys), (2 + n) * c, c2)

    def maxpool(self, x: str, k: int = 5) -> str:
        return self.op("MaxPool", [x], kernel_shape=[k, k], strides=[1, 1], pads=[k // 2] * 4)

    def sppf(self, x: str, c1: int, c2: int) -> str:
        c = c1 // 2
        ys = [self.conv2d(x, c1, c)]
        for _ in range(3):
            ys.append(self.maxpool(ys[-1]))
        return self.conv2d(self.cat(ys), 4 * c, c2)

    def upsample(self, x: str) -> str:
        scales = self.const(np.array([1, 1, 2, 2], np.float32))
        return self.op("Resize", [x, "", scales], mode="nearest")

    def rep_csp(self, x: str, c1: int, c2: int, n: int) -> str:
        c = c2 // 2
        a = self.conv2d(x, c1, c)
        for _ in range(n):  # RepBottleneck: a fused RepConv 3x3, a Conv 3x3, the shortcut
            a = self.op("Add", [a, self.conv2d(self.conv2d(a, c, c, 3), c, c, 3)])
        return self.conv2d(self.cat([a, self.conv2d(x, c1, c)]), 2 * c, c2)

    def rep_ncsp_elan4(self, x: str, c1: int, c2: int, c3: int, c4: int, n: int) -> str:
        ys = self.split(self.conv2d(x, c1, c3), [c3 // 2, c3 // 2])
        ys.append(self.conv2d(self.rep_csp(ys[-1], c3 // 2, c4, n), c4, c4, 3))
        ys.append(self.conv2d(self.rep_csp(ys[-1], c4, c4, n), c4, c4, 3))
        return self.conv2d(self.cat(ys), c3 + 2 * c4, c2)

    def elan1(self, x: str, c1: int, c2: int, c3: int, c4: int) -> str:
        ys = self.split(self.conv2d(x, c1, c3), [c3 // 2, c3 // 2])
        ys.append(self.conv2d(ys[-1], c3 // 2, c4, 3))
        ys.append(self.conv2d(ys[-1], c4, c4, 3))
        return self.conv2d(self.cat(ys), c3 + 2 * c4, c2)

    def aconv(self, x: str, c1: int, c2: int) -> str:
        pooled = self.op("AveragePool", [x], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 0, 0])
        return self.conv2d(pooled, c1, c2, 3, 2)

    def sppelan(self, x: str, c1: int, c2: int, c3: int) -> str:
        ys = [self.conv2d(x, c1, c3)]
        for _ in range(3):
            ys.append(self.maxpool(ys[-1]))
        return self.conv2d(self.cat(ys), 4 * c3, c2)

    # The Detect head, decoded as the ONNX export does -----------------------------------------------
    def detect(self, features: list[tuple[str, int]], size: int) -> str:
        first = features[0][1]
        c2, c3 = max(16, first // 4, REG_MAX * 4), max(first, min(CLASSES, 100))
        boxes, scores, anchors, strides = [], [], [], []
        for (x, c), stride in zip(features, STRIDES, strict=True):
            box = self.conv2d(self.conv2d(self.conv2d(x, c, c2, 3), c2, c2, 3), c2, 4 * REG_MAX, 1, act=False)
            cls = self.conv2d(self.conv2d(self.conv2d(x, c, c3, 3), c3, c3, 3), c3, CLASSES, 1, act=False)
            cells = (size // stride) ** 2
            boxes.append(self.op("Reshape", [box, self.const(np.array([1, 4 * REG_MAX, cells], np.int64))]))
            scores.append(self.op("Reshape", [cls, self.const(np.array([1, CLASSES, cells], np.int64))]))
            side = size // stride
            ys, xs = np.meshgrid(np.arange(side) + 0.5, np.arange(side) + 0.5, indexing="ij")
            anchors.append(np.stack([xs.ravel(), ys.ravel()]))
            strides.append(np.full(cells, stride, np.float32))
        total = sum(a.shape[1] for a in anchors)
        box = self.op("Concat", boxes, axis=2)  # [1, 64, N]
        # DFL: per side a softmax over REG_MAX bins, its expectation by a fixed 1x1 conv.
        box = self.op("Reshape", [box, self.const(np.array([1, 4, REG_MAX, total], np.int64))])
        box = self.op("Softmax", [self.op("Transpose", [box], perm=[0, 2, 1, 3])], axis=1)  # [1, 16, 4, N]
        bins = self.const(np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1))
        dist = self.op("Reshape", [self.op("Conv", [box, bins]), self.const(np.array([1, 4, total], np.int64))])
        left_top, right_bottom = self.split_axis(dist, 1)
        anchor = self.const(np.concatenate(anchors, axis=1)[None].astype(np.float32))  # [1, 2, N]
        x0y0 = self.op("Sub", [anchor, left_top])
        x1y1 = self.op("Add", [anchor, right_bottom])
        centre = self.op("Div", [self.op("Add", [x0y0, x1y1]), self.const(np.array(2.0, np.float32))])
        wh = self.op("Sub", [x1y1, x0y0])
        stride = self.const(np.concatenate(strides)[None, None])
        xywh = self.op("Mul", [self.op("Concat", [centre, wh], axis=1), stride])
        cls = self.op("Sigmoid", [self.op("Concat", scores, axis=2)])
        out = "output0"
        self.nodes.append(helper.make_node("Concat", [xywh, cls], [out], axis=1))
        return out

    def split_axis(self, x: str, axis: int) -> tuple[str, str]:
        a, b = self.name(), self.name()
        self.nodes.append(helper.make_node("Split", [x, self.const(np.array([2, 2], np.int64))], [a, b], axis=axis))
        return a, b

    def model(self, size: int, name: str) -> onnx.ModelProto:
        anchors = sum((size // s) ** 2 for s in STRIDES)
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + CLASSES, anchors])],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def yolov8n(size: int = 640) -> tuple[onnx.ModelProto, int]:
    """yolov8.yaml at scale n (depth 0.33, width 0.25): (the model, its parameter count)."""
    n = Net()
    x = n.conv2d("images", 3, 16, 3, 2)
    x = n.conv2d(x, 16, 32, 3, 2)
    x = n.c2f(x, 32, 32, 1, True)
    x = n.conv2d(x, 32, 64, 3, 2)
    p3 = n.c2f(x, 64, 64, 2, True)
    x = n.conv2d(p3, 64, 128, 3, 2)
    p4 = n.c2f(x, 128, 128, 2, True)
    x = n.conv2d(p4, 128, 256, 3, 2)
    x = n.c2f(x, 256, 256, 1, True)
    p5 = n.sppf(x, 256, 256)
    h12 = n.c2f(n.cat([n.upsample(p5), p4]), 384, 128, 1, False)
    h15 = n.c2f(n.cat([n.upsample(h12), p3]), 192, 64, 1, False)
    h18 = n.c2f(n.cat([n.conv2d(h15, 64, 64, 3, 2), h12]), 192, 128, 1, False)
    h21 = n.c2f(n.cat([n.conv2d(h18, 128, 128, 3, 2), p5]), 384, 256, 1, False)
    n.detect([(h15, 64), (h18, 128), (h21, 256)], size)
    return n.model(size, "yolov8n-untrained"), n.params


def yolov9t(size: int = 640) -> tuple[onnx.ModelProto, int]:
    """yolov9t.yaml (ELAN1, RepNCSPELAN4 with n=3, AConv, SPPELAN): (the model, its parameter count)."""
    n = Net()
    x = n.conv2d("images", 3, 16, 3, 2)
    x = n.conv2d(x, 16, 32, 3, 2)
    x = n.elan1(x, 32, 32, 32, 16)
    x = n.aconv(x, 32, 64)
    p3 = n.rep_ncsp_elan4(x, 64, 64, 64, 32, 3)
    x = n.aconv(p3, 64, 96)
    p4 = n.rep_ncsp_elan4(x, 96, 96, 96, 48, 3)
    x = n.aconv(p4, 96, 128)
    x = n.rep_ncsp_elan4(x, 128, 128, 128, 64, 3)
    p5 = n.sppelan(x, 128, 128, 64)
    h12 = n.rep_ncsp_elan4(n.cat([n.upsample(p5), p4]), 224, 96, 96, 48, 3)
    h15 = n.rep_ncsp_elan4(n.cat([n.upsample(h12), p3]), 160, 64, 64, 32, 3)
    h18 = n.rep_ncsp_elan4(n.cat([n.aconv(h15, 64, 48), h12]), 144, 96, 96, 48, 3)
    h21 = n.rep_ncsp_elan4(n.cat([n.aconv(h18, 96, 64), p5]), 192, 128, 128, 64, 3)
    n.detect([(h15, 64), (h18, 96), (h21, 128)], size)
    return n.model(size, "yolov9t-untrained"), n.params


ARCHITECTURES = {"YOLOv8n": yolov8n, "YOLOv9-t": yolov9t}
