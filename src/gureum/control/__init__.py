"""Control loops: reconcilers that drive observed state toward desired state.

``Loop`` runs one reconciler with a per-key queue, retries and resync;
``LoopRunner`` starts and stops them together; time comes from a ``Clock``.
"""

from gureum.control.clock import Clock, FakeClock, SystemClock
from gureum.control.loop import Loop, LoopRunner, Reconcile, Resync

__all__ = ["Clock", "FakeClock", "Loop", "LoopRunner", "Reconcile", "Resync", "SystemClock"]
