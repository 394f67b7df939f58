"""Motion detection and event merging on a scripted scene (tests/events/scene.py).

The accuracy contract: every scripted motion becomes one event starting (and ending) within 1 s;
the slow lighting ramp, the sudden brightness step and the sensor noise make none; an object
moving under a mask makes none, though unmasked it does.
"""

from __future__ import annotations

from events.detector import MotionDetector
from events.tracker import EventTracker
from tests.events.scene import MASK, MOTION, Scene


def run(detector: MotionDetector, gap: float = 5.0) -> list[tuple[float, float, set[str]]]:
    tracker = EventTracker(gap_seconds=gap)
    events = []
    for t, frame in Scene().frames():
        detection = detector.detect(frame)
        change = tracker.update(t, detection.score, detection.zones)
        if change and change[0] == "end":
            events.append((change[1].start, change[1].end, change[1].zones))
    last = tracker.finish()
    if last is not None:
        events.append((last.start, last.end, last.zones))
    return events


def test_every_scripted_motion_is_one_event_and_light_and_noise_are_none():
    events = run(MotionDetector(masks=[MASK]))
    print(f"\nevents: {[(round(s, 1), round(e, 1)) for s, e, _ in events]}; scripted: {MOTION}")
    assert len(events) == len(MOTION), events  # the ramp (0-90 s), the step (40 s, 65 s) and noise: none
    for (start, end, _), (scripted_start, scripted_end) in zip(events, MOTION, strict=True):
        assert abs(start - scripted_start) <= 1.0, (start, scripted_start)
        assert abs(end - scripted_end) <= 1.0, (end, scripted_end)


def test_the_mask_is_what_silences_the_swaying_tree():
    events = run(MotionDetector())  # no mask: the tree moves the whole time, one event from start to end
    assert any(end - start > 60 for start, end, _ in events), events


def test_events_name_the_zones_they_touched():
    zones = {
        "path-left": [[0.0, 0.5], [0.4, 0.5], [0.4, 0.8], [0.0, 0.8]],
        "path-right": [[0.6, 0.5], [0.75, 0.5], [0.75, 0.8], [0.6, 0.8]],
        "sky": [[0.0, 0.0], [0.5, 0.0], [0.5, 0.3], [0.0, 0.3]],
    }
    events = run(MotionDetector(masks=[MASK], zones=zones))
    assert len(events) == len(MOTION)
    for _, _, touched in events:
        assert touched == {"path-left", "path-right"}, touched  # the object crosses both; nothing in the sky


def test_motion_closer_than_the_gap_merges_and_the_gap_is_not_part_of_the_event():
    def events(gap: float) -> list[tuple[float, float]]:
        tracker, found = EventTracker(gap_seconds=gap), []
        for tenth in range(200):
            t = tenth / 10
            score = 0.1 if (1 <= t <= 3 or 6 <= t <= 8) else 0.0
            change = tracker.update(t, score)
            if change and change[0] == "end":
                found.append((change[1].start, change[1].end))
        return found

    assert events(gap=5.0) == [(1.0, 8.0)]  # 3 s apart: one event, ending at the last motion
    assert events(gap=2.0) == [(1.0, 3.0), (6.0, 8.0)]
