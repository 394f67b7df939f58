"""Model outputs into detections: the two output layouts nvr reads, and non-maximum suppression.

- YOLO (Ultralytics YOLOv8, v9, v11 exports): one output `[1, 4 + classes, N]` (or its transpose
  `[1, N, 4 + classes]`): per candidate the box as centre x, centre y, width, height in input pixels,
  then one score per class. Candidates overlap, so NMS (OpenCV's, per class) keeps the best of each.
- Boxes (SSD / RT-DETR style, as D-FINE and RT-DETR ONNX exports give): three outputs, `boxes [1, N, 4]`
  as x0, y0, x1, y1 (in input pixels, or 0..1 when every value is), `scores [1, N]`, `classes [1, N]`.

Both give `Found` boxes in input pixels; detection.model maps them back to the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NMS_IOU = 0.45  # candidates of one class overlapping more than this are one object


@dataclass(frozen=True)
class Found:
    """One object in the model's input: class index, score, box (x0, y0, x1, y1) in input pixels."""

    cls: int
    score: float
    box: tuple[float, float, float, float]


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, min_score: float) -> list[Found]:
    """The best of each group of overlapping boxes of one class (boxes x0, y0, x1, y1)."""
    if not len(boxes):
        return []
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.astype(np.float32).tolist(),
        scores.astype(np.float32).tolist(),
        classes.astype(np.int32).tolist(),
        min_score,
        NMS_IOU,
    )
    return [
        Found(int(classes[i]), float(scores[i]), tuple(float(v) for v in boxes[i]))  # type: ignore[arg-type]
        for i in np.asarray(keep).reshape(-1)
    ]


def decode_yolo(output: np.ndarray, classes: int, min_score: float) -> list[Found]:
    """A YOLO output `[1, 4 + classes, N]` (or `[1, N, 4 + classes]`)."""
    prediction = output[0]
    if prediction.shape[0] != 4 + classes:
        prediction = prediction.T
    prediction = prediction.T  # (N, 4 + classes)
    scores_per_class = prediction[:, 4:]
    best = scores_per_class.argmax(axis=1)
    scores = scores_per_class[np.arange(len(best)), best]
    keep = scores >= min_score
    if not keep.any():
        return []
    cx, cy, w, h = prediction[keep, :4].T
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return nms(boxes, scores[keep], best[keep], min_score)


def decode_boxes(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, size: tuple[int, int], min_score: float
) -> list[Found]:
    """Boxes, scores and classes (SSD / RT-DETR style); `size` (width, height) scales 0..1 boxes to pixels."""
    boxes, scores, classes = boxes.reshape(-1, 4), scores.reshape(-1), classes.reshape(-1)
    keep = scores >= min_score
    boxes, scores, classes = boxes[keep].astype(np.float32), scores[keep], classes[keep]
    if len(boxes) and float(np.abs(boxes).max()) <= 1.0:
        boxes = boxes * np.array([size[0], size[1], size[0], size[1]], np.float32)
    return nms(boxes, scores, classes.astype(np.int32), min_score)
