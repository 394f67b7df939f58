"""Fixtures of the recordings tests: recorded segments made by ffmpeg (tests/support/recorded.py)."""

from tests.support.recorded import segment_files  # noqa: F401 - fixture
