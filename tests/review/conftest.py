"""Fixtures of the review tests: recorded segments (tests/support/recorded.py)."""

from tests.support.recorded import recordings, segment_files  # noqa: F401 - fixtures
