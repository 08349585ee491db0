"""The fake clock for tests (it lives with the ``Clock`` protocol in ``gureum.control``)."""

from gureum.control.clock import Clock, FakeClock, SystemClock

__all__ = ["Clock", "FakeClock", "SystemClock"]
