"""The output decoders on hand-made outputs: YOLO (both orientations) with NMS per class, and boxes."""

from __future__ import annotations

import numpy as np

from detection.decode import decode_boxes, decode_yolo

CLASSES = 3


def yolo_output(candidates: list[tuple[float, float, float, float, int, float]]) -> np.ndarray:
    """[1, 4 + CLASSES, N] from (cx, cy, w, h, class, score) rows."""
    out = np.zeros((1, 4 + CLASSES, len(candidates)), np.float32)
    for n, (cx, cy, w, h, cls, score) in enumerate(candidates):
        out[0, :4, n] = (cx, cy, w, h)
        out[0, 4 + cls, n] = score
    return out


def test_yolo_keeps_the_best_of_overlapping_boxes_per_class():
    out = yolo_output([
        (100, 100, 40, 80, 0, 0.9),  # a person
        (102, 101, 40, 80, 0, 0.7),  # the same person, a weaker candidate: suppressed
        (101, 100, 40, 80, 2, 0.6),  # another class at the same place: kept
        (300, 200, 50, 50, 0, 0.2),  # below min_score
    ])  # fmt: skip
    found = sorted(decode_yolo(out, CLASSES, 0.25), key=lambda f: f.cls)
    assert [(f.cls, round(f.score, 2)) for f in found] == [(0, 0.9), (2, 0.6)]
    assert found[0].box == (80.0, 60.0, 120.0, 140.0)  # centre and size into corners, input pixels
    transposed = decode_yolo(out.transpose(0, 2, 1).copy(), CLASSES, 0.25)  # [1, N, 4 + classes]
    assert sorted((f.cls, f.box) for f in transposed) == sorted((f.cls, f.box) for f in found)


def test_boxes_in_pixels_or_fractions():
    boxes = np.array([[[0.1, 0.2, 0.3, 0.6], [0.5, 0.5, 0.9, 0.9]]], np.float32)
    scores, classes = np.array([[0.8, 0.1]], np.float32), np.array([[2, 0]], np.int64)
    (found,) = decode_boxes(boxes, scores, classes, (320, 320), 0.5)
    assert found.cls == 2 and np.allclose(found.box, (32, 64, 96, 192))  # fractions scaled to the input
    (in_pixels,) = decode_boxes(boxes * 320, scores, classes, (320, 320), 0.5)
    assert np.allclose(in_pixels.box, found.box)
