"""Screenshots of the pages people use, at 1440 x 900 and at 390 px, into docs/screenshots/ (`make screenshots`).

It starts what it needs on free loopback ports and stops it at the end (bench.stack: Redis, a throwaway
SQLite database, the capture supervisor with four test-pattern cameras, the web server with collected
static files), adds 20 minutes of recordings with a gap and three motion events with their pictures,
and drives Debian's Chromium: the live grid, a camera's recording playing with the timeline's hover
preview, four cameras in step on /review/, and an event playing on /events/. 390 px pages are PNG;
1440 px ones are JPEG (the test patterns make large PNGs).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "screenshots-1"
CAMERAS = ("front", "yard", "garage", "side")
WIDTHS = {
    "1440": {"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    "390": {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
}


def prepare(stack, store: Path) -> dict:  # type: ignore[no-untyped-def]
    """Cameras (live, one turned off), recordings of the last 20 minutes with a gap, three events."""
    import cv2

    from bench.review import SEGMENT_SECONDS, _chained, _index
    from bench.stack import CameraSpec
    from cameras.models import Camera
    from events.models import Event

    stack.set_cameras([CameraSpec(slug, source="640x360", max_fps=10) for slug in CAMERAS])
    Camera.objects.filter(slug="side").update(enabled=False)
    for position, slug in enumerate(CAMERAS):
        Camera.objects.filter(slug=slug).update(name=slug.title(), position=position)
    segments = _chained(store / "source", "640x360", 8 * 60 // SEGMENT_SECONDS)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(minutes=20)
    for slug in CAMERAS:
        _index(slug, segments, store, start, len(segments))  # 8 minutes, then a gap of 3, then 8 more
        _index_more(slug, segments, store, start + dt.timedelta(minutes=11))
    capture = cv2.VideoCapture(str(segments[0]))
    capture.set(cv2.CAP_PROP_POS_MSEC, 3000)
    ok, frame = capture.read()
    capture.release()
    front = Camera.objects.get(slug="front")
    events = []
    for minutes, seconds, zones, score in ((3, 6, ["door"], 0.18), (12, 14, ["path", "door"], 0.07), (16, 3, [], 0.02)):
        began = start + dt.timedelta(minutes=minutes)
        snapshot = f"event.snapshots/front/{int(began.timestamp())}.jpg"
        (store / snapshot).parent.mkdir(parents=True, exist_ok=True)
        if ok:
            cv2.imwrite(str(store / snapshot), frame)
            cv2.imwrite(str(store / snapshot.replace(".jpg", ".thumb.jpg")), cv2.resize(frame, (240, 135)))
        events.append(
            Event.objects.create(
                camera=front, start=began, end=began + dt.timedelta(seconds=seconds), peak_score=score, zones=zones,
                snapshot=snapshot if ok else "",
            )
        )  # fmt: skip
    return {"start": start, "event": events[0]}


def _index_more(slug: str, sources: list[Path], store: Path, start: dt.datetime) -> None:
    """Segments after a gap (bench.review._index replaces a camera's segments; this adds to them)."""
    import os

    from bench.review import SEGMENT_SECONDS
    from cameras.models import Camera
    from recordings.models import Segment

    camera = Camera.objects.get(slug=slug)
    rows = []
    for index, source in enumerate(sources):
        begin = start + dt.timedelta(seconds=index * SEGMENT_SECONDS)
        relative = Path(slug) / f"{begin:%Y%m%dT%H%M%SZ}-b{index}.mp4"
        if not (store / relative).exists():
            os.link(source, store / relative)
        rows.append(
            Segment(
                camera=camera, start=begin, end=begin + dt.timedelta(seconds=SEGMENT_SECONDS),
                duration=float(SEGMENT_SECONDS), bytes=source.stat().st_size, codec="avc1.640020", width=640,
                height=360, key=relative.as_posix(),
            )
        )  # fmt: skip
    Segment.objects.bulk_create(rows)


def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="nvr-screenshots-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--hide-scrollbars", "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    options.page_load_strategy = "none"
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(30)
    return driver


def wait(driver, script: str, timeout: float = 20.0, *args):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = driver.execute_script(script, *args)
        except Exception:  # noqa: BLE001 - the page is still loading
            value = None
        if value:
            return value
        time.sleep(0.2)
    state = driver.execute_script(
        "const v = document.querySelector('video'); return [location.href, v && [v.currentTime, v.paused, v.readyState],"
        " (document.querySelector('.review-note') || {}).textContent]"
    )
    raise RuntimeError(f"not ready within {timeout}s: {script[:80]} ({state})")


def save(driver, out: Path, name: str, width: str) -> Path:
    """PNG at 390 px; JPEG (quality 85) at 1440 px."""
    import cv2
    import numpy as np

    png = driver.get_screenshot_as_png()
    if width == "390":
        path = out / f"{name}-390.png"
        path.write_bytes(png)
    else:
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        path = out / f"{name}-1440.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"  {shown} ({path.stat().st_size // 1024} KB)", flush=True)
    return path


def shoot(driver, base: str, facts: dict, out: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/accounts/login/")
    wait(driver, "return document.getElementById('id_username')")
    driver.find_element(By.ID, "id_username").send_keys("bench")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, "return window.nvrGrid")
    start = facts["start"]
    for width, metrics in WIDTHS.items():
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.get(f"{base}/")
        wait(driver, "return window.nvrGrid && [...window.nvrGrid.tiles.values()].every((t) => t.frames > 2)")
        time.sleep(1.0)
        save(driver, out, "grid", width)

        playing = int((start + dt.timedelta(minutes=3, seconds=2)).timestamp())
        driver.get(f"{base}/cameras/front/?t={playing}")
        wait(
            driver, "const v = document.querySelector('.review-tile video'); return v && v.currentTime > 1 && !v.paused"
        )
        driver.execute_script("window.nvrReview.timeline.setZoom(4, window.nvrReview.clock.now())")
        time.sleep(1.5)
        bar = driver.find_element(By.CSS_SELECTOR, ".timeline-bar")
        begin, end = driver.execute_script("const t = window.nvrReview.timeline; return [t.start(), t.end];")
        hover = (start + dt.timedelta(minutes=5)).timestamp() * 1000
        x = (hover - begin) / (end - begin) * bar.size["width"]
        ActionChains(driver).move_to_element_with_offset(bar, int(x - bar.size["width"] / 2), 0).perform()
        wait(driver, "return document.querySelector('.timeline-preview').dataset.state === 'shown'")
        if width == "390":
            driver.execute_script("document.querySelector('.timeline').scrollIntoView({block: 'center'})")
        time.sleep(0.5)
        save(driver, out, "camera-recording", width)

        at = int((start + dt.timedelta(minutes=12)).timestamp())
        driver.get(f"{base}/review/?cameras={','.join(CAMERAS[:4])}&t={at}")
        wait(driver, "return [...document.querySelectorAll('.review-tile video')].every((v) => v.currentTime > 1)")
        time.sleep(1.0)
        save(driver, out, "review", width)

        driver.get(f"{base}/events/")
        link = wait(driver, "return document.querySelector(`[data-event='${arguments[0]}'] .event-play`)", 20,
                    facts["event"].pk)  # fmt: skip
        link.click()
        wait(driver, "const v = document.querySelector('.event-player video'); return v.currentTime > 1 && !v.paused")
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)
        save(driver, out, "events", width)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from bench.procs import stop_all
    from bench.stack import Stack

    stack = Stack()
    work = Path(tempfile.mkdtemp(prefix="nvr-screenshots-"))
    store, static = work / "store", work / "static"
    store.mkdir()
    driver = None
    try:
        stack.start()
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username="bench")
        user.set_password(PASSWORD)
        user.save()
        facts = prepare(stack, store)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT, env=stack.env(STATIC_ROOT=str(static)), check=True, timeout=180,
        )  # fmt: skip
        stack.start_capture(name="capture-screenshots", RECORDINGS_DIR=str(store))  # its reconcile keeps the rows
        web = stack.web("nvr", RECORDINGS_DIR=str(store), STATIC_ROOT=str(static))
        driver = browser()
        print(f"screenshots of http://127.0.0.1:{web.port} into {args.out}", flush=True)
        shoot(driver, f"http://127.0.0.1:{web.port}", facts, args.out)
    finally:
        if driver is not None:
            driver.quit()
        stop_all()
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
