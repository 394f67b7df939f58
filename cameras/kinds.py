"""The kinds of camera and the RTSP transports: choices the model, validation and the sources share.

Apart from the model so that modules the model itself imports (validation) compare with the same
members instead of string literals.
"""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    WEBCAM = "webcam", "USB / V4L2 webcam"
    RTSP = "rtsp", "RTSP IP camera"
    HTTP_MJPEG = "http_mjpeg", "HTTP MJPEG camera"
    PI = "pi", "Raspberry Pi camera"
    FILE = "file", "Video file (looped)"
    TEST_PATTERN = "test_pattern", "Test pattern"


class Transport(models.TextChoices):
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
