"""Fragmented MP4 from a camera's own H.264 packets: an init segment, then one moof+mdat per packet.

Why our own writer rather than FFmpeg's mp4 muxer through PyAV (movflags frag_every_frame, empty_moov,
default_base_moof into a BytesIO): the muxer writes a fragment only when the *next* packet arrives (it
needs the sample's duration), a frame of delay (67 ms at 15 fps) on every live picture, and its
header wants the width, height and avcC before the first packet, which a camera that changes its
resolution mid-stream only says in-band (a new SPS). Here a fragment is written the moment its packet
comes (its duration is the previous packet's, as MSE players expect of live streams), the SPS read
from the packets themselves decides the init segment, and the whole writer is the few boxes a
browser's Media Source Extensions, ffmpeg and VLC read (ISO/IEC 14496-12 and -15). Measured per packet:
docs/facts.md ("fMP4 relay").

The samples are the camera's NAL units unchanged, in their order (SPS, PPS, SEI and slices alike),
each prefixed by its 4-byte length instead of an Annex B start code: that is all MP4 changes. The
camera's sound, when there is any, is a second track (AAC, `AudioTrack`): its frames come in their own
fragments (`audio_fragment`), timed in the track's sample rate on the same media clock as the video.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

TIMESCALE = 90_000  # RTP's video clock: RTSP cameras' timestamps convert without rounding
VIDEO_TRACK = 1
AUDIO_TRACK = 2

NAL_SLICE_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8

_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class NotH264(ValueError):
    """The packets are not H.264 this writer can carry (another codec, or no SPS/PPS yet)."""


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01), in order."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    if start < 0:
        return units
    start += 3
    while True:
        next_code = data.find(b"\x00\x00\x01", start)
        if next_code < 0:
            unit = data[start:]
        else:
            end = next_code
            while end > start and data[end - 1] == 0:  # a 4-byte start code, or trailing zeros
                end -= 1
            unit = data[start:end]
        if unit:
            units.append(unit)
        if next_code < 0:
            return units
        start = next_code + 3


def split_lengths(data: bytes, size: int = 4) -> list[bytes]:
    """The NAL units of a length-prefixed (AVCC) packet."""
    units, offset = [], 0
    while offset + size <= len(data):
        length = int.from_bytes(data[offset : offset + size], "big")
        offset += size
        if length == 0 or offset + length > len(data):
            raise NotH264("a NAL unit's length runs past its packet")
        units.append(data[offset : offset + length])
        offset += length
    return units


def nal_units(data: bytes, *, length_size: int = 0) -> list[bytes]:
    """A packet's NAL units: Annex B (RTSP's, `length_size` 0) or length-prefixed."""
    return split_lengths(data, length_size) if length_size else split_annexb(data)


def nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


class _Bits:
    """Exp-Golomb reader over an RBSP (emulation prevention bytes removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.pos >> 3
        if byte >= len(self.data):
            raise NotH264("the SPS ends early")
        value = (self.data[byte] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
            if zeros > 31:
                raise NotH264("a malformed SPS")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _rbsp(unit: bytes) -> bytes:
    return unit.replace(b"\x00\x00\x03", b"\x00\x00")


@dataclass(frozen=True, slots=True)
class Sps:
    """What an init segment needs of a sequence parameter set."""

    profile: int
    compatibility: int
    level: int
    width: int
    height: int

    @property
    def codec(self) -> str:
        """The RFC 6381 codec string MSE asks about (`avc1.64001f`)."""
        return f"avc1.{self.profile:02x}{self.compatibility:02x}{self.level:02x}"


def parse_sps(unit: bytes) -> Sps:
    """Profile, level and the picture size (cropping applied) of an SPS NAL unit."""
    if len(unit) < 4 or nal_type(unit) != NAL_SPS:
        raise NotH264("not an SPS")
    bits = _Bits(_rbsp(unit[4:]))
    profile, compatibility, level = unit[1], unit[2], unit[3]
    bits.ue()  # seq_parameter_set_id
    chroma = 1
    separate_planes = 0
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            separate_planes = bits.bit()
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for index in range(12 if chroma == 3 else 8):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if bits.bit():
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue())
    array_type = 0 if separate_planes else chroma
    unit_x = 1 if array_type in (0, 3) else 2
    unit_y = (2 - frame_mbs_only) * (2 if array_type == 1 else 1)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    return Sps(profile, compatibility, level, width, height)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """What an init segment needs of an AAC track: its AudioSpecificConfig (ISO/IEC 14496-3), rate and channels."""

    config: bytes
    rate: int
    channels: int

    @property
    def codec(self) -> str:
        """The RFC 6381 codec string (`mp4a.40.2` for AAC-LC: the config's first 5 bits are its object type)."""
        return f"mp4a.40.{self.config[0] >> 3 if self.config else 2}"


# Boxes ---------------------------------------------------------------------------------------------
def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _media(sample_entry: bytes, media_header: bytes, *, timescale: int, handler: bytes, name: bytes) -> bytes:
    """A track's mdia box with one sample entry and empty sample tables: its samples come in fragments."""
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
        full_box(b"stts", 0, 0, bytes(4)),
        full_box(b"stsc", 0, 0, bytes(4)),
        full_box(b"stsz", 0, 0, bytes(8)),
        full_box(b"stco", 0, 0, bytes(4)),
    )
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    return box(
        b"mdia",
        full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0)),  # language "und"
        full_box(b"hdlr", 0, 0, bytes(4), handler, bytes(12), name + b"\x00"),
        box(b"minf", media_header, dinf, stbl),
    )


def init_segment(
    sps_unit: bytes, pps_units: Iterable[bytes], *, track_id: int = VIDEO_TRACK, audio: AudioTrack | None = None
) -> bytes:
    """ftyp + moov of one H.264 video track (and an AAC track, AUDIO_TRACK) with no samples (they come in fragments)."""
    sps = parse_sps(sps_unit)
    pps_list = list(pps_units)
    avcc = (
        bytes([1, sps.profile, sps.compatibility, sps.level, 0xFF, 0xE1])
        + struct.pack(">H", len(sps_unit))
        + sps_unit
        + bytes([len(pps_list)])
        + b"".join(struct.pack(">H", len(p)) + p for p in pps_list)
    )
    avc1 = box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HH", sps.width, sps.height),
        struct.pack(">II", 0x00480000, 0x00480000),  # 72 dpi
        bytes(4),
        struct.pack(">H", 1),  # frame_count
        bytes(32),  # compressor name
        struct.pack(">Hh", 0x18, -1),
        box(b"avcC", avcc),
    )
    mdia = _media(avc1, full_box(b"vmhd", 0, 1, bytes(8)), timescale=TIMESCALE, handler=b"vide", name=b"VideoHandler")
    tkhd = full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, track_id, 0, 0),
        bytes(8),
        struct.pack(">hhhh", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", sps.width << 16, sps.height << 16),
    )
    mvhd = full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 0),
        struct.pack(">IH", 0x10000, 0x100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", (AUDIO_TRACK if audio is not None else track_id) + 1),
    )
    trex = [full_box(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))]
    traks = [box(b"trak", tkhd, mdia)]
    if audio is not None:
        traks.append(_audio_trak(audio))
        trex.append(full_box(b"trex", 0, 0, struct.pack(">IIIII", AUDIO_TRACK, 1, 0, 0, 0)))
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso5iso6avc1mp41")
    return ftyp + box(b"moov", mvhd, *traks, box(b"mvex", *trex))


def _descriptor(tag: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    assert len(body) < 128  # one size byte (a camera's AAC config is a few bytes)
    return bytes([tag, len(body)]) + body


def _audio_trak(audio: AudioTrack) -> bytes:
    """The AAC track: an mp4a sample entry whose esds carries the AudioSpecificConfig."""
    esds = full_box(
        b"esds",
        0,
        0,
        _descriptor(
            0x03,  # ES_Descriptor
            struct.pack(">HB", AUDIO_TRACK, 0),
            _descriptor(
                0x04,  # DecoderConfigDescriptor: MPEG-4 audio (0x40), an audio stream (0x15)
                bytes([0x40, 0x15]) + bytes(3) + struct.pack(">II", 0, 0),
                _descriptor(0x05, audio.config),  # DecoderSpecificInfo
            ),
            _descriptor(0x06, b"\x02"),  # SLConfigDescriptor: predefined MP4
        ),
    )
    mp4a = box(
        b"mp4a",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(8),
        struct.pack(">HHHH", audio.channels, 16, 0, 0),
        struct.pack(">I", (audio.rate & 0xFFFF) << 16),
        esds,
    )
    mdia = _media(mp4a, full_box(b"smhd", 0, 0, bytes(4)), timescale=audio.rate, handler=b"soun", name=b"SoundHandler")
    tkhd = full_box(
        b"tkhd",
        0,
        3,
        struct.pack(">IIIII", 0, 0, AUDIO_TRACK, 0, 0),
        bytes(8),
        struct.pack(">hhhh", 0, 1, 0x0100, 0),  # alternate group 1, full volume
        _MATRIX,
        struct.pack(">II", 0, 0),
    )
    return box(b"trak", tkhd, mdia)


_SYNC = 0x02000000  # sample_depends_on = 2 (no other picture)
_NON_SYNC = 0x01010000  # depends on others, is_non_sync_sample


def fragment(
    units: Iterable[bytes],
    *,
    sequence: int,
    decode_time: int,
    duration: int,
    keyframe: bool,
    composition_offset: int = 0,
    track_id: int = VIDEO_TRACK,
) -> bytes:
    """moof + mdat of one sample: `units` length-prefixed, times in TIMESCALE units."""
    parts: list[bytes] = []
    for unit in units:
        parts += (struct.pack(">I", len(unit)), unit)
    return _moof_mdat(parts, sequence, decode_time, duration, keyframe, composition_offset, track_id)


def audio_fragment(data: bytes, *, sequence: int, decode_time: int, duration: int) -> bytes:
    """moof + mdat of one AAC frame (raw, no ADTS header) of AUDIO_TRACK, times in the track's sample rate."""
    return _moof_mdat([data], sequence, decode_time, duration, True, 0, AUDIO_TRACK)


def _moof_mdat(
    parts: list[bytes],
    sequence: int,
    decode_time: int,
    duration: int,
    keyframe: bool,
    composition_offset: int,
    track_id: int,
) -> bytes:
    size = sum(len(part) for part in parts)
    # trun: data offset, duration, size, flags, composition offset (version 1: signed)
    trun_flags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800
    trun_size = 12 + 4 + 4 + 16
    tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))  # default-base-is-moof
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", max(decode_time, 0)))
    traf_size = 8 + len(tfhd) + len(tfdt) + trun_size
    moof_size = 8 + 16 + traf_size
    trun = full_box(
        b"trun",
        1,
        trun_flags,
        struct.pack(">Ii", 1, moof_size + 8),  # one sample, its data right after the mdat header
        struct.pack(">IIIi", max(duration, 0), size, _SYNC if keyframe else _NON_SYNC, composition_offset),
    )
    moof = box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), box(b"traf", tfhd, tfdt, trun))
    assert len(moof) == moof_size
    return b"".join([moof, struct.pack(">I", 8 + size), b"mdat", *parts])  # one copy of the picture
