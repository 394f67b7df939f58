"""`python -m bench storage`: the bucket tier and signed exports (README "Footage beyond one disk").

Against moto's standalone S3 server on loopback (tests/support/s3.py), in the bench's own database:
- upload: one camera-hour of 10 s segments (360; --quick: 36), each a hard link to one 10 s 1280x720
  segment encoded once at 4 Mbit/s, moved by the real mover (recordings.tier.move_due: hash check,
  PUT with SHA-256, HEAD to verify, row update, local delete); wall time, MB/s, and CPU seconds of this
  process and of the S3 server per camera-hour moved;
- first byte and first frame of one segment read through the store, from the bucket (ranged GETs)
  against from the local disk, alternated, 15 times each: medians and their ratio;
- a signed export of 1 hour of 4 cameras (--quick: 10 minutes), built by exports.builder from local
  segments, then verified by scripts/verify_export.py: seconds, MB, MB/s.
The S3 server is on the same machine: the figures are this code's cost, not a network's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.procs import ROOT

SEGMENT_SECONDS = 10
HOUR_SEGMENTS = 360
VAR = ROOT / "var" / "bench" / "storage"


def _segment(path: Path) -> None:
    """10 s of 1280x720 at 4 Mbit/s (noise keeps the encoder at the bitrate), keyframe every second, fMP4."""
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", "testsrc=size=1280x720:rate=15,noise=alls=20:allf=t+u",
            "-t", str(SEGMENT_SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M",
            "-bufsize", "8M", "-pix_fmt", "yuv420p", "-g", "15", "-keyint_min", "15", "-sc_threshold", "0",
            "-movflags", "frag_keyframe+empty_moov+default_base_moof+frag_discont", "-f", "mp4", str(path),
        ],
        check=True,
        timeout=300,
    )  # fmt: skip


def _index(camera, source: Path, root: Path, start: dt.datetime, count: int) -> list:  # type: ignore[no-untyped-def]
    """`count` consecutive rows of `camera`, each file a hard link to `source` under its store key."""
    from recordings.models import Segment
    from recordings.store import segment_key

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    rows = []
    for index in range(count):
        begin = start + dt.timedelta(seconds=index * SEGMENT_SECONDS)
        key = segment_key(str(camera.uid), begin)
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(source, target)
        rows.append(
            Segment(
                camera=camera, start=begin, end=begin + dt.timedelta(seconds=SEGMENT_SECONDS),
                duration=float(SEGMENT_SECONDS), bytes=source.stat().st_size, codec="avc1.64001f",
                width=1280, height=720, key=key, sha256=digest,
            )
        )  # fmt: skip
    return Segment.objects.bulk_create(rows, batch_size=1000)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _first(open_file) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds to the first byte, seconds to the first decoded frame) of a segment opened by `open_file`."""
    import av

    began = time.perf_counter()
    with open_file() as file:
        file.read(1)
        first_byte = time.perf_counter() - began
    began = time.perf_counter()
    with open_file() as file, av.open(file, "r") as container:
        next(container.decode(video=0))
        first_frame = time.perf_counter() - began
    return first_byte, first_frame


def storage_suite(stack, log, *, quick: bool = False) -> dict:  # type: ignore[no-untyped-def]
    from django.conf import settings

    from bench.procs import cpu_seconds
    from cameras.models import Camera
    from exports import builder
    from exports.models import Export
    from recordings import tier
    from recordings.models import Location, Segment
    from recordings.store import LocalStore, TieredStore, get_store
    from tests.support.s3 import ACCESS_KEY, SECRET_KEY, MotoServer

    VAR.mkdir(parents=True, exist_ok=True)
    source = VAR / "720p-4M.mp4"
    if not source.exists():
        _segment(source)
    size = source.stat().st_size
    out: dict = {"segment_bytes": size, "segment_mbit_s": round(size * 8 / SEGMENT_SECONDS / 1e6, 2)}
    run = VAR / f"run-{os.getpid()}"
    moto = MotoServer().start()
    saved = (settings.RECORDINGS_DIR, settings.RECORDINGS_S3_URL, settings.RECORDINGS_TIER_AFTER)
    try:
        settings.RECORDINGS_DIR = str(run / "store")
        settings.RECORDINGS_S3_URL = moto.url(bucket=f"bench-{uuid.uuid4().hex[:8]}")
        settings.RECORDINGS_S3_ACCESS_KEY_ID, settings.RECORDINGS_S3_SECRET_ACCESS_KEY = ACCESS_KEY, SECRET_KEY
        settings.RECORDINGS_TIER_AFTER = 0.0
        store = get_store()
        assert isinstance(store, TieredStore)
        store.bucket.ensure()
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)

        # Upload: the real mover over one camera-hour (or a tenth of it).
        count = HOUR_SEGMENTS // 10 if quick else HOUR_SEGMENTS
        camera = Camera.objects.create(slug="tier-bench", name="tier-bench", enabled=False)
        _index(camera, source, store.local.root, start, count)
        cpu, server_cpu, began = _own_cpu(), cpu_seconds(moto.pid or 0), time.perf_counter()
        moved = tier.move_due(store=store, seconds=3600)
        took, cpu, server_cpu = time.perf_counter() - began, _own_cpu() - cpu, cpu_seconds(moto.pid or 0) - server_cpu
        assert moved.moved == count and not moved.error, moved
        scale = HOUR_SEGMENTS / count
        out["upload"] = {
            "segments": count,
            "seconds": round(took, 2),
            "mb_per_s": round(count * size / took / 1e6, 1),
            "seconds_per_camera_hour": round(took * scale, 1),
            "cpu_s_per_camera_hour": round(cpu * scale, 1),
            "s3_server_cpu_s_per_camera_hour": round(server_cpu * scale, 1),
        }
        log(f"  upload: {count} segments of {size / 1e6:.1f} MB in {took:.1f} s ({out['upload']['mb_per_s']} MB/s); "
            f"per camera-hour: {out['upload']['cpu_s_per_camera_hour']} s CPU here, "
            f"{out['upload']['s3_server_cpu_s_per_camera_hour']} s in the S3 server")  # fmt: skip

        # First byte and first frame: the same segment from the bucket and from the local disk.
        row = Segment.objects.filter(camera=camera, location=Location.BUCKET).order_by("start").first()
        assert row is not None
        local_root = run / "local-copy"
        local = LocalStore(local_root)
        local.put(row.key, source.read_bytes())
        timings: dict[str, list[tuple[float, float]]] = {"bucket": [], "local": []}
        for _ in range(15):
            timings["bucket"].append(_first(lambda: store.bucket.open(row.key)))
            timings["local"].append(_first(lambda: local.open(row.key)))
        first = {}
        for where, pairs in timings.items():
            first[where] = {
                "first_byte_ms": round(statistics.median(p[0] for p in pairs) * 1000, 2),
                "first_frame_ms": round(statistics.median(p[1] for p in pairs) * 1000, 2),
            }
        import av

        with store.bucket.open(row.key) as file, av.open(file, "r") as container:
            next(container.decode(video=0))
            first["bucket"]["first_frame_gets"] = file.raw.requests  # type: ignore[attr-defined]
        first["first_byte_ratio"] = round(first["bucket"]["first_byte_ms"] / first["local"]["first_byte_ms"], 1)
        first["first_frame_ratio"] = round(first["bucket"]["first_frame_ms"] / first["local"]["first_frame_ms"], 2)
        out["first_frame"] = first
        log(f"  first byte: bucket {first['bucket']['first_byte_ms']} ms, local {first['local']['first_byte_ms']} ms; "
            f"first frame: bucket {first['bucket']['first_frame_ms']} ms, local {first['local']['first_frame_ms']} ms "
            f"(x{first['first_frame_ratio']})")  # fmt: skip

        # A signed export of 4 cameras, from local segments.
        settings.RECORDINGS_S3_URL = ""
        settings.NVR_EXPORTS_DIR = str(run / "exports")
        settings.NVR_EXPORT_KEY_FILE = str(run / "keys" / "signing.key")
        minutes = 10 if quick else 60
        per_camera = minutes * 60 // SEGMENT_SECONDS
        cameras = []
        for number in range(4):
            cam = Camera.objects.create(slug=f"export-bench-{number}", name=f"Export {number}", enabled=False)
            _index(cam, source, Path(settings.RECORDINGS_DIR), start, per_camera)
            cameras.append(cam)
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username="bench")
        export = Export.objects.create(user=user, username="bench", camera_slugs=[c.slug for c in cameras],
                                       start=start, end=start + dt.timedelta(minutes=minutes))  # fmt: skip
        export.cameras.set(cameras)
        began, cpu = time.perf_counter(), _own_cpu()
        builder.build(export.pk)
        took, cpu = time.perf_counter() - began, _own_cpu() - cpu
        export.refresh_from_db()
        assert export.state == Export.State.DONE, export.error
        began = time.perf_counter()
        checked = subprocess.run(
            [sys.executable, "-I", str(ROOT / "scripts" / "verify_export.py"), str(builder.path_of(export))],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        verify = time.perf_counter() - began
        assert checked.returncode == 0, checked.stdout
        out["export"] = {
            "cameras": 4,
            "minutes": minutes,
            "seconds": round(took, 2),
            "cpu_s": round(cpu, 2),
            "mb": round(export.bytes / 1e6, 1),
            "mb_per_s": round(export.bytes / took / 1e6, 1),
            "verify_seconds": round(verify, 2),
        }
        log(f"  export of {minutes} min of 4 cameras: {out['export']['mb']} MB in {took:.1f} s "
            f"({out['export']['mb_per_s']} MB/s, {cpu:.1f} s CPU); verified in {verify:.1f} s")  # fmt: skip
    finally:
        settings.RECORDINGS_DIR, settings.RECORDINGS_S3_URL, settings.RECORDINGS_TIER_AFTER = saved
        moto.stop()
        subprocess.run(["rm", "-rf", str(run)], check=False)
    return out


def markdown(result: dict) -> list[str]:
    """The storage section of the report."""
    upload, first, export = result.get("upload", {}), result.get("first_frame", {}), result.get("export", {})
    bucket, local = first.get("bucket", {}), first.get("local", {})
    return [
        "## Footage beyond one disk",
        "",
        f"Segments of {result.get('segment_mbit_s')} Mbit/s (1280x720, 10 s); moto's S3 server on the same machine.",
        "",
        "| measurement | figure |",
        "| --- | --- |",
        f"| Upload by the mover ({upload.get('segments')} segments: verify, mark, delete) | "
        f"{upload.get('mb_per_s')} MB/s; {upload.get('seconds_per_camera_hour')} s per camera-hour |",
        f"| CPU per camera-hour moved | {upload.get('cpu_s_per_camera_hour')} s here, "
        f"{upload.get('s3_server_cpu_s_per_camera_hour')} s in the S3 server |",
        f"| First byte of a segment (median of 15) | bucket {bucket.get('first_byte_ms')} ms, "
        f"local {local.get('first_byte_ms')} ms |",
        f"| First frame of a segment (median of 15) | bucket {bucket.get('first_frame_ms')} ms "
        f"({bucket.get('first_frame_gets')} ranged GETs), local {local.get('first_frame_ms')} ms "
        f"(x{first.get('first_frame_ratio')}) |",
        f"| Signed export, {export.get('minutes')} min of {export.get('cameras')} cameras | "
        f"{export.get('seconds')} s ({export.get('mb')} MB, {export.get('mb_per_s')} MB/s, {export.get('cpu_s')} s CPU); "
        f"verified in {export.get('verify_seconds')} s |",
        "",
    ]
