"""Tampering: the picture turned black or uniform, or suddenly and lastingly became another picture.

It works on the small grey pictures the motion watcher already makes (events.detector, DETECT_WIDTH px
wide, a few a second), so it costs a few array operations per picture and no decoding of its own.
Against a reference picture that follows the scene slowly (REFERENCE_SECONDS):

- uniform: the picture's contrast (standard deviation) fell under UNIFORM_CONTRAST while the reference
  still has texture (covered, sprayed, a lens cap, a cut video signal); a scene that darkens slowly
  (dusk without infrared) takes the reference down with it, so it never counts;
- different: the picture's correlation with the reference (zero-mean, normalized: a change of
  brightness or contrast, such as an infrared day/night switch or auto-exposure, leaves it unchanged)
  fell under DIFFERENT_CORRELATION (the camera was turned, moved or covered by something textured);
- lasting: either must hold for TAMPER_AFTER seconds, so a passing truck or a person at the lens is not
  tampering; the reference does not learn meanwhile. The problem is over once the picture has matched
  the reference again for CLEAR_AFTER seconds, or when a new view has lasted ADOPT_AFTER seconds (the
  camera was moved on purpose): it becomes the reference.

Every threshold is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

# Thresholds, in one place -------------------------------------------------------------------------
UNIFORM_CONTRAST = 8.0  # grey levels (std of the small blurred picture): under this the picture is uniform
TEXTURED_REFERENCE = 2 * UNIFORM_CONTRAST  # the reference must have had this much for "uniform" to count
DIFFERENT_CORRELATION = 0.4  # under this correlation with the reference the picture is another one
TAMPER_AFTER = 15.0  # s a suspicious picture must last (a passing truck takes a few seconds)
CLEAR_AFTER = 5.0  # s the picture must match again before the problem is over
ADOPT_AFTER = 600.0  # s after which a lasting new view is taken as the reference (the camera was moved on purpose)
REFERENCE_SECONDS = 120.0  # time constant of the reference (it follows dusk, dawn and slowly moving shadows)


class Verdict(StrEnum):
    STARTED = "started"
    ENDED = "ended"


@dataclass
class TamperDetector:
    """Feed it the watcher's small grey pictures in time order (`update`); it says when tampering starts and ends."""

    _reference: np.ndarray | None = None
    _last_at: float = 0.0
    _suspect_since: float | None = None
    _match_since: float | None = None
    tampered: bool = False
    reason: str = ""

    def update(self, grey: np.ndarray, at: float) -> Verdict | None:
        reference = self._reference
        if reference is None or reference.shape != grey.shape:
            self._reference, self._last_at = grey.astype(np.float32, copy=True), at
            return None
        elapsed, self._last_at = max(at - self._last_at, 0.0), at
        problem = self._problem(grey, reference)
        if problem:
            self._match_since = None
            if self._suspect_since is None:
                self._suspect_since = at
            suspect_for = at - self._suspect_since
            if not self.tampered and suspect_for >= TAMPER_AFTER:
                self.tampered, self.reason = True, problem
                return Verdict.STARTED
            if self.tampered and suspect_for >= ADOPT_AFTER:  # moved on purpose: this is the view now
                self._reference = grey.astype(np.float32, copy=True)
                return self._clear()
            return None
        self._suspect_since = None
        self._learn(grey, elapsed)
        if self.tampered:
            if self._match_since is None:
                self._match_since = at
            if at - self._match_since >= CLEAR_AFTER:
                return self._clear()
        return None

    def _problem(self, grey: np.ndarray, reference: np.ndarray) -> str:
        """Why this picture is not the camera's usual one ("" when it is)."""
        contrast, usual = float(grey.std()), float(reference.std())
        if contrast < UNIFORM_CONTRAST:
            if usual >= TEXTURED_REFERENCE:
                return "the picture turned black" if grey.mean() < 40 else "the picture turned uniform"
            return ""  # it was already flat (a dark scene): nothing changed
        if usual < UNIFORM_CONTRAST:
            return ""
        if correlation(grey, reference) < DIFFERENT_CORRELATION:
            return "the picture changed lastingly (camera moved or covered)"
        return ""

    def _learn(self, grey: np.ndarray, elapsed: float) -> None:
        assert self._reference is not None
        weight = min(elapsed / REFERENCE_SECONDS, 1.0)
        self._reference += (grey - self._reference) * weight

    def _clear(self) -> Verdict:
        self.tampered, self.reason = False, ""
        self._suspect_since = self._match_since = None
        return Verdict.ENDED


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean normalized correlation of two pictures (1: the same up to brightness and contrast)."""
    x = a.astype(np.float32) - float(a.mean())
    y = b.astype(np.float32) - float(b.mean())
    denominator = float(np.sqrt(float((x * x).sum()) * float((y * y).sum())))
    return float((x * y).sum()) / denominator if denominator else 1.0
