"""Fixtures of the review tests: a camera's recorded segments (tests/support/recorded.py)."""

from tests.support.recorded import recordings  # noqa: F401 - fixture
