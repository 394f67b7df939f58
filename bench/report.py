"""Turn a run's results into the Markdown summary, the targets check and the plot."""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path

from bench.stack import LABELS
from bench.suites import GOOD_P10, largest_good

BASELINES = ("seed-gevent", "seed-flask", "seed-anchor")


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "host": socket.gethostname(),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _fmt(value, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{value}{suffix}"


def scenario_summary(scenario: dict) -> dict:
    """Largest good N per design, ratios to baselines, CPU ratios at common N."""
    points = scenario["points"]
    largest = {design: largest_good(p) for design, p in points.items()}
    out: dict = {"largest_good": largest, "ratios": {}, "cpu_ratio": {}, "floor_ratio": {}}
    for ours in ("nvr", "nvr-lean"):
        mine = {p["viewers"]: p for p in points.get(ours, []) if "error" not in p}
        for base in BASELINES:
            key = base if ours == "nvr" else f"{ours}/{base}"
            if base in largest and ours in largest:
                out["ratios"][key] = round(largest[ours] / largest[base], 2) if largest[base] else None
            other = {p["viewers"]: p for p in points.get(base, []) if "error" not in p}
            common = [
                n for n in mine if n in other and mine[n].get("web_us_per_frame") and other[n].get("web_us_per_frame")
            ]
            if common:
                out["cpu_ratio"][key] = {
                    n: round(mine[n]["web_us_per_frame"] / other[n]["web_us_per_frame"], 2) for n in sorted(common)
                }
    ours = {p["viewers"]: p.get("web_us_per_frame") for p in points.get("seed-gevent", []) if "error" not in p}
    original = {p["viewers"]: p.get("web_us_per_frame") for p in points.get("seed-anchor", []) if "error" not in p}
    fidelity = {n: round(ours[n] / original[n], 2) for n in sorted(ours) if ours[n] and original.get(n)}
    if fidelity:  # our seed design against the seed's own code: the baseline is honest when near 1
        out["fidelity"] = fidelity
    floor = {p["viewers"]: p for p in points.get("floor", []) if "error" not in p}
    for design, plist in points.items():
        if design == "floor":
            continue
        ratio = {
            p["viewers"]: round(p["web_us_per_frame"] / floor[p["viewers"]]["web_us_per_frame"], 1)
            for p in plist
            if "error" not in p
            and p["viewers"] in floor
            and p.get("web_us_per_frame")
            and floor[p["viewers"]].get("web_us_per_frame")
        }
        if ratio:
            out["floor_ratio"][design] = ratio
    return out


def fanout_table(scenario: dict) -> list[str]:
    lines = [
        (
            "| design | viewers | median fps | p10 fps | p99 gap ms | latency p50 / p99 ms | first frame p99 ms | "
            "web CPU % | web µs/frame | KB/viewer | failed | load gen CPU % (per process) |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for design, points in scenario["points"].items():
        for p in points:
            if "error" in p:
                lines.append(f"| {LABELS.get(design, design)} | {p['viewers']} | error: {p['error'][:80]} |" + " |" * 9)
                continue
            lines.append(
                f"| {LABELS.get(design, design)} | {p['viewers']} | {_fmt(p['fps_median'])} | {_fmt(p['fps_p10'])} | "
                f"{_fmt(p['gap_p99_ms'])} | {_fmt(p['latency_p50_ms'])} / {_fmt(p['latency_p99_ms'])} | "
                f"{_fmt(p.get('first_frame_p99_ms'))} | {_fmt(p['web_cpu_pct'])} | {_fmt(p['web_us_per_frame'])} | "
                f"{_fmt(p['kb_per_viewer'])} | {p['failed']} | "
                f"{' + '.join(_fmt(c) for c in p['loadgen_cpu_pct'])} |"
            )
    for design, why in scenario.get("skipped", {}).items():
        lines.append(f"| {LABELS.get(design, design)} | {why} |" + " |" * 10)
    return lines


def targets(results: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the issue that this run measured."""
    rows: list[tuple[str, str, bool | None]] = []
    fan = results.get("fanout", {})
    one = fan.get("1cam-1proc")
    if one and one["points"].get("nvr"):
        held = [
            p
            for p in one["points"]["nvr"]
            if "error" not in p and p["fps_median"] >= 14 and p["fps_p10"] >= GOOD_P10 and p["failed"] == 0
        ]
        best = max((p["viewers"] for p in held), default=0)
        rows.append(
            (
                ">= 1,000 viewers of one camera, one web process, median >= 14 fps, p10 >= 13",
                f"{best} viewers",
                best >= 1000,
            )
        )
        lean = [
            p
            for p in one["points"].get("nvr-lean", [])
            if "error" not in p and p["fps_median"] >= 14 and p["fps_p10"] >= GOOD_P10 and p["failed"] == 0
        ]
        if one["points"].get("nvr-lean"):
            best_lean = max((p["viewers"] for p in lean), default=0)
            rows.append(
                ("... with the lean stream path (prototype, bench/lean.py)", f"{best_lean} viewers", best_lean >= 1000)
            )
        summary = one.get("summary") or scenario_summary(one)
        gevent = summary["cpu_ratio"].get("seed-gevent")
        if gevent:
            worst = max(gevent.values())
            rows.append(
                (
                    "web CPU per delivered frame <= 0.75x seed gevent (same N)",
                    ", ".join(f"N={n}: {r}x" for n, r in gevent.items()),
                    worst <= 0.75,
                )
            )
        original = summary["cpu_ratio"].get("seed-anchor")
        if original:
            rows.append(
                (
                    "web CPU per delivered frame against the seed's own code (same N, same run)",
                    ", ".join(f"N={n}: {r}x" for n, r in original.items()),
                    None,
                )
            )
        fidelity = summary.get("fidelity")
        if fidelity:
            rows.append(
                (
                    "our seed design costs within 20 % of the seed's own code (same N, same run)",
                    ", ".join(f"N={n}: {r}x" for n, r in fidelity.items()),
                    all(0.8 <= r <= 1.2 for r in fidelity.values()),
                )
            )
        lean_cpu = summary["cpu_ratio"].get("nvr-lean/seed-gevent")
        if lean_cpu:
            rows.append(
                (
                    "... with the lean stream path (prototype)",
                    ", ".join(f"N={n}: {r}x" for n, r in lean_cpu.items()),
                    max(lean_cpu.values()) <= 0.75,
                )
            )
    for scenario in fan.values():
        if not scenario["points"].get("nvr"):
            continue
        summary = scenario.get("summary") or scenario_summary(scenario)
        largest = summary["largest_good"]
        bases = {b: largest[b] for b in BASELINES if b in largest}
        if bases:
            met = all(largest["nvr"] > n for n in bases.values())
            rows.append(
                (
                    f"more viewers at >= 14 fps than every baseline ({scenario['name']})",
                    f"nvr {largest['nvr']} vs " + ", ".join(f"{b} {n}" for b, n in bases.items()),
                    met,
                )
            )
    idle = results.get("idle_web")
    if idle:
        rows.append(
            ("web process CPU, 16 live cameras, no viewers (reported)", f"{idle['web_cpu_pct']} % of a core", None)
        )
    if results.get("storm"):
        from bench.storm import target_rows

        rows += target_rows(results["storm"])
    lat = results.get("latency")
    if lat and "error" not in lat:
        rows.append(
            (
                f"latency p50 <= 20 ms, p99 <= 60 ms at {lat['viewers']} viewers",
                f"p50 {lat['latency_p50_ms']} ms, p99 {lat['latency_p99_ms']} ms",
                lat["latency_p50_ms"] <= 20 and lat["latency_p99_ms"] <= 60,
            )
        )
    cap = results.get("capture", {}).get("rows")
    if cap:
        biggest = max(cap, key=lambda r: r["cameras"])
        full = biggest["cameras"] >= 16
        rows.append(
            (
                "16 RTSP 720p 15 fps cameras on one capture host at <= 150 % CPU",
                f"{biggest['cameras']} cameras: {biggest['cpu_pct']} % CPU",
                biggest["cpu_pct"] <= 150 if full else None,
            )
        )
        rows.append(
            (
                "... publishing every frame (>= 95 % of 15 fps per camera)",
                f"{biggest['fps_per_camera']} fps per camera",
                biggest["fps_per_camera"] >= 14.25 if full else None,
            )
        )
    if one and one["points"].get("nvr"):
        for design in ("nvr", "nvr-lean"):
            per = [
                p["kb_per_viewer"] for p in one["points"].get(design, []) if "error" not in p and p["viewers"] >= 500
            ]
            if per:
                rows.append(
                    (f"<= 100 KB memory per viewer ({LABELS[design]})", f"{max(per)} KB (N >= 500)", max(per) <= 100)
                )
    stalled = results.get("stalled")
    if stalled:
        prod = [r for r in stalled if r["design"] == "nvr"]
        if prod:
            worst = max(r["growth_peak_mb"] for r in prod)
            rows.append(
                (
                    f"< 30 MB growth with {prod[0]['stalled']} stalled viewers for {prod[0]['seconds']:.0f} s",
                    ", ".join(f"deadline {r['write_deadline_s']:g} s: {r['growth_peak_mb']} MB" for r in prod),
                    worst < 30,
                )
            )
    return rows


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"# nvr benchmarks: {results['date']} on {m['host']}",
        "",
        (
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux {m['kernel']}, Python {m['python']}. "
            f"Load average before the run: {' / '.join(map(str, results['load_before']))} (1 / 5 / 15 min); "
            f"after: {' / '.join(map(str, results.get('load_after', [])))}. The load generator runs on the same machine."
        ),
        (
            f"Plan: {results['plan']['duration']:g} s measured per fan-out point (after ramp and warm-up), "
            f"N = {', '.join(map(str, results['plan']['viewers']))}; a design stops at the first N where its median "
            f"falls below 10 fps. Run took {results.get('elapsed_s', 0) / 60:.1f} min."
        ),
        "",
    ]
    if results.get("review"):
        from bench.review import markdown as review_markdown

        lines += review_markdown(results["review"])
    if results.get("recording"):
        from bench.review import recording_markdown

        lines += recording_markdown(results["recording"])
    if results.get("long_requests"):
        from bench.long_requests import markdown as long_markdown

        lines += long_markdown(results["long_requests"])
    if results.get("events"):
        from bench.events import markdown as events_markdown

        lines += events_markdown(results["events"])
    if results.get("substreams"):
        from bench.substreams import markdown as substreams_markdown

        lines += substreams_markdown(results["substreams"])
    if results.get("live"):
        from bench.live import markdown as live_markdown

        lines += live_markdown(results["live"])
    if results.get("detection"):
        from bench.detection import markdown as detection_markdown

        lines += detection_markdown(results["detection"])
    if results.get("storage"):
        from bench.storage import markdown as storage_markdown

        lines += storage_markdown(results["storage"])
    if results.get("storm"):
        from bench.storm import markdown as storm_markdown

        lines += storm_markdown(results["storm"])
    rows = targets(results)
    if rows:
        lines += ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
        for target, measured, met in rows:
            lines.append(f"| {target} | {measured} | {'yes' if met else ('–' if met is None else '**no**')} |")
        lines.append("")
    for key, scenario in results.get("fanout", {}).items():
        summary = scenario.get("summary") or scenario_summary(scenario)
        lines += [
            f"## Fan-out: {scenario['name']}",
            "",
            f"Frames: {scenario['frame_bytes'] / 1024:.1f} KB JPEG, 640x480, 15 fps per camera.",
            "",
        ]
        lines += fanout_table(scenario)
        lines.append("")
        largest = summary["largest_good"]
        lines.append(
            "Largest N at median >= 14 fps (no failed viewer): "
            + ", ".join(
                f"{LABELS.get(d, d)} **{n or '< ' + str(results['plan']['viewers'][0])}**" for d, n in largest.items()
            )
            + "."
        )
        steal = [
            p["machine_steal_pct"]
            for plist in scenario["points"].values()
            for p in plist
            if p.get("machine_steal_pct") is not None
        ]
        if steal:
            lines.append(
                f"- CPU steal (hypervisor) during the measured windows: median {sorted(steal)[len(steal) // 2]} %, "
                f"max {max(steal)} % of the machine"
            )
        if scenario.get("tiebreak"):
            tie = scenario["tiebreak"]
            lines.append(f"- tie-break: N={tie['viewers']} was run because {tie['why']}.")

        def names(key: str) -> tuple[str, str]:
            ours, _, base = key.rpartition("/")
            return LABELS[ours or "nvr"], LABELS[base]

        for key, ratio in summary["ratios"].items():
            ours, base = names(key)
            lines.append(
                f"- {ours} / {base}: {ratio}x the viewers"
                if ratio is not None
                else f"- {base} held no N: ratio undefined"
            )
        for key, by_n in summary["cpu_ratio"].items():
            ours, base = names(key)
            lines.append(f"- web CPU per frame, {ours} / {base}: " + ", ".join(f"N={n}: {r}x" for n, r in by_n.items()))
        for design, by_n in summary["floor_ratio"].items():
            lines.append(
                f"- {LABELS.get(design, design)} CPU per frame / floor: "
                + ", ".join(f"N={n}: {r}x" for n, r in by_n.items())
            )
        lines.append("")
    idle = results.get("idle_web")
    if idle:
        rows.append(
            ("web process CPU, 16 live cameras, no viewers (reported)", f"{idle['web_cpu_pct']} % of a core", None)
        )
    if results.get("storm"):
        from bench.storm import target_rows

        rows += target_rows(results["storm"])
    lat = results.get("latency")
    if lat and "error" not in lat:
        lines += [
            "## Capture-to-viewer latency",
            "",
            (
                f"nvr, one camera, {lat['viewers']} viewers: p50 **{lat['latency_p50_ms']} ms**, p99 "
                f"**{lat['latency_p99_ms']} ms** (X-Timestamp is stamped by the capture loop right after the frame "
                f"is read; includes JPEG encoding, Redis, the hub and both sockets); median {lat['fps_median']} fps."
            ),
            "",
        ]
    cap = results.get("capture", {})
    if cap.get("rows"):
        lines += [
            "## Capture cost (RTSP H.264 1280x720 15 fps, one supervisor)",
            "",
            (
                "| cameras | capture CPU % | capture RSS MB | frames published/s | fps per camera | "
                "frame age at publish p50 / p99 ms | JPEG KB | test RTSP server CPU % |"
            ),
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in cap["rows"]:
            lines.append(
                f"| {r['cameras']} | {r['cpu_pct']} | {r['rss_mb']} | {r['frames_per_s']} | "
                f"{r['fps_per_camera']} | {r['age_p50_ms']} / {r['age_p99_ms']} | {_fmt(r['jpeg_kb'])} | "
                f"{r['rtsp_server_cpu_pct']} |"
            )
        lines += [
            "",
            f"Source: {cap['source']}. Frame age = receipt by a Redis subscriber minus the capture stamp.",
            "",
        ]
    elif cap.get("skipped"):
        lines += ["## Capture cost", "", f"Skipped: {cap['skipped']}", ""]
    stalled = results.get("stalled")
    if stalled:
        lines += [
            "## Stalled viewers",
            "",
            (
                "| server | write deadline s | stalled / normal | memory growth peak / end MB | normal viewers "
                "median / p10 fps | stalled viewers dropped (server count) | note |"
            ),
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in stalled:
            lines.append(
                f"| {r['label']} | {r['write_deadline_s']:g} | {r['stalled']} / {r['normal']} | "
                f"{r['growth_peak_mb']} / {r['growth_end_mb']} | {r['normal_fps_median']} / "
                f"{r['normal_fps_p10']} | {r['stalled_dropped']} ({_fmt(r['server_deadline_drops'])}) | "
                f"{r['aborted'] or ''} |"
            )
        lines += [
            "",
            (
                f"Stalled viewers connect and never read for {stalled[0]['seconds']:.0f} s; daphne's deadline "
                "cannot fire because its `send` never waits."
            ),
            "",
        ]
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> bool:
    """Viewers vs median fps and vs web CPU per frame, every design and scenario."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fan = results.get("fanout", {})
    if not fan:
        return False
    fig, (ax_fps, ax_cpu) = plt.subplots(1, 2, figsize=(13, 5))
    colors = {
        "floor": "#777777",
        "nvr": "#1f77b4",
        "nvr-lean": "#2ca02c",
        "seed-gevent": "#ff7f0e",
        "seed-flask": "#d62728",
        "seed-anchor": "#8c564b",
    }
    styles = {"1cam-1proc": "-", "16cam-1proc": "--", "16cam-4proc": ":"}
    markers = {"1cam-1proc": "o", "16cam-1proc": "s", "16cam-4proc": "^"}
    for key, scenario in fan.items():
        for design, points in scenario["points"].items():
            pts = [p for p in points if "error" not in p]
            if not pts:
                continue
            n = [p["viewers"] for p in pts]
            label = f"{LABELS.get(design, design)} – {scenario['name']}"
            kw = {
                "color": colors.get(design),
                "linestyle": styles.get(key, "-"),
                "marker": markers.get(key, "o"),
                "label": label,
            }
            ax_fps.plot(n, [p["fps_median"] for p in pts], **kw)
            ax_cpu.plot(n, [p["web_us_per_frame"] for p in pts], **kw)
    for ax in (ax_fps, ax_cpu):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent viewers")
        ax.grid(True, which="both", alpha=0.3)
    ax_fps.axhline(14, color="green", linewidth=0.8)
    ax_fps.set_ylabel("median fps per viewer (camera: 15)")
    ax_fps.set_ylim(0, 16)
    ax_cpu.set_ylabel("web CPU µs per delivered frame")
    ax_cpu.set_ylim(bottom=0)
    ax_cpu.legend(fontsize=7, loc="upper left")
    m = results["machine"]
    fig.suptitle(
        f"nvr vs seed design vs floor — {results['date']}, {m['host']} ({m['cores']} cores), "
        f"load avg before {results['load_before'][0]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def stamp() -> str:
    return time.strftime("%Y-%m-%d")
