"""The detector's model: an ONNX file the user chose, run by ONNX Runtime on CPU, CUDA or OpenVINO.

`load()` reads DETECTOR_MODEL, DETECTOR_LABELS and DETECTOR_DEVICE and returns a `Model`, None when no
model is configured (detection is off), or raises `ModelError` with one sentence an operator can act on
(a missing file, a file ONNX Runtime cannot load, an input or output of a shape nvr does not read).
The input size is the model's own (`[1, 3, height, width]`); the output layout is recognised from its
shape (detection.decode). Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from django.db import models

from detection.decode import Found, decode_boxes, decode_yolo

log = logging.getLogger(__name__)

DEFAULT_LABELS = Path(__file__).with_name("coco-labels.txt")  # COCO's 80, in the order YOLO exports use
LETTERBOX_GREY = 114  # the padding colour Ultralytics trains with


class Device(models.TextChoices):
    """DETECTOR_DEVICE: where ONNX Runtime runs the model (its execution provider)."""

    CPU = "cpu", "CPUExecutionProvider"
    CUDA = "cuda", "CUDAExecutionProvider"
    OPENVINO = "openvino", "OpenVINOExecutionProvider"


class OutputKind(models.TextChoices):
    YOLO = "yolo", "YOLO [1, 4 + classes, N]"
    BOXES = "boxes", "boxes, scores, classes (SSD / RT-DETR)"


class ModelError(Exception):
    """The configured model cannot be used; the message says why, in an operator's words."""


def read_labels(path: str | Path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"DETECTOR_LABELS: cannot read {Path(path).name} ({type(error).__name__})") from None
    labels = [line.strip() for line in lines if line.strip()]
    if not labels:
        raise ModelError(f"DETECTOR_LABELS: {Path(path).name} names no label")
    return labels


def _fixed(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


@dataclass
class Model:
    session: ort.InferenceSession
    name: str  # the file's name, for the log and the admin (never the host's full path)
    labels: list[str]
    kind: OutputKind
    width: int
    height: int
    provider: str  # what ONNX Runtime actually gave
    input_name: str = ""

    def detect(self, image: np.ndarray, min_score: float) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """(label, score, box normalized to `image`) of each object in a BGR picture."""
        tensor, scale = self._letterbox(image)
        outputs = self.session.run(None, {self.input_name: tensor})
        if self.kind is OutputKind.YOLO:
            found = decode_yolo(outputs[0], len(self.labels), min_score)
        else:
            boxes, scores, classes = self._boxes_outputs(outputs)
            found = decode_boxes(boxes, scores, classes, (self.width, self.height), min_score)
        height, width = image.shape[:2]
        return [self._place(f, scale, width, height) for f in found if 0 <= f.cls < len(self.labels)]

    def _place(self, found: Found, scale: float, width: int, height: int) -> tuple[str, float, tuple[float, ...]]:
        x0, y0, x1, y1 = (v / scale for v in found.box)
        box = (
            min(max(x0 / width, 0.0), 1.0),
            min(max(y0 / height, 0.0), 1.0),
            min(max(x1 / width, 0.0), 1.0),
            min(max(y1 / height, 0.0), 1.0),
        )
        return self.labels[found.cls], found.score, box  # type: ignore[return-value]

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The picture scaled into the input (aspect kept, padded right and below), RGB 0..1, NCHW."""
        height, width = image.shape[:2]
        scale = min(self.width / width, self.height / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = np.full((self.height, self.width, 3), LETTERBOX_GREY, np.uint8)
        canvas[: size[1], : size[0]] = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        return (rgb.transpose(2, 0, 1)[None].astype(np.float32) / 255.0), scale

    def _boxes_outputs(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        names = [o.name.lower() for o in self.session.get_outputs()]
        by_shape = {
            "boxes": next(i for i, o in enumerate(outputs) if o.ndim == 3 and o.shape[-1] == 4),
        }
        rest = [i for i in range(len(outputs)) if i != by_shape["boxes"]]
        classes = next((i for i in rest if "class" in names[i] or "label" in names[i]), None)
        if classes is None:
            classes = next((i for i in rest if np.issubdtype(outputs[i].dtype, np.integer)), rest[-1])
        scores = next(i for i in rest if i != classes)
        return outputs[by_shape["boxes"]], outputs[scores], outputs[classes]


def providers_for(device: str) -> list[str]:
    """The execution providers to ask for, best first; CPU always last (ONNX Runtime falls back to it)."""
    try:
        wanted = Device(device)
    except ValueError:
        raise ModelError(f"DETECTOR_DEVICE must be one of {', '.join(Device.values)}, not {device!r}") from None
    available = ort.get_available_providers()
    chosen = [wanted.label] if wanted.label in available else []
    if wanted is not Device.CPU and not chosen:
        log.warning(
            "detector: DETECTOR_DEVICE=%s but this ONNX Runtime has no %s (it has %s): running on the CPU",
            device,
            wanted.label,
            ", ".join(available),
        )
    return [*chosen, Device.CPU.label] if wanted is not Device.CPU else [Device.CPU.label]


def load(path: str, *, labels_path: str | Path = DEFAULT_LABELS, device: str = Device.CPU, threads: int = 0) -> Model:
    """Open the model at `path`, or raise ModelError saying what is wrong with it."""
    file = Path(path)
    if not file.is_file():
        raise ModelError(f"DETECTOR_MODEL: no model file at {file.name or path!r}")
    labels = read_labels(labels_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # ONNX Runtime's own warnings about graph optimizations: not the operator's
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(file), sess_options=options, providers=providers_for(device))
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own classes (InvalidProtobuf, Fail...)
        said = str(error).replace(str(file.resolve()), file.name).replace(str(file), file.name).strip()
        first = said.splitlines()[0][:200] if said else type(error).__name__  # the file's name, not its folders
        raise ModelError(f"DETECTOR_MODEL: {file.name} is not a model ONNX Runtime can load ({first})") from None
    inputs = session.get_inputs()
    shape = list(inputs[0].shape) if len(inputs) == 1 else []
    if len(shape) != 4 or shape[1] != 3 or not _fixed(shape[2]) or not _fixed(shape[3]):
        found = ", ".join(str(list(i.shape)) for i in inputs)
        raise ModelError(
            f"DETECTOR_MODEL: {file.name} must take one picture [1, 3, height, width] of a fixed size, it takes {found}"
        )
    height, width = int(shape[2]), int(shape[3])
    kind = _output_kind(session, file.name, len(labels))
    provider = session.get_providers()[0]
    return Model(session, file.name, labels, kind, width, height, provider, inputs[0].name)


def _output_kind(session: ort.InferenceSession, name: str, classes: int) -> OutputKind:
    outputs = session.get_outputs()
    shapes = [list(o.shape) for o in outputs]
    if len(outputs) == 1 and len(shapes[0]) == 3:
        rows, columns = shapes[0][1], shapes[0][2]
        if rows == 4 + classes or columns == 4 + classes:
            return OutputKind.YOLO
        raise ModelError(
            f"DETECTOR_MODEL: {name} gives {shapes[0]}, but with {classes} labels (DETECTOR_LABELS) a YOLO output "
            f"is [1, {4 + classes}, N]"
        )
    if len(outputs) >= 3 and any(len(s) == 3 and s[-1] == 4 for s in shapes):
        return OutputKind.BOXES
    raise ModelError(
        f"DETECTOR_MODEL: {name} gives {shapes}; nvr reads YOLO [1, 4 + classes, N] or boxes [1, N, 4], scores "
        "[1, N] and classes [1, N]"
    )
