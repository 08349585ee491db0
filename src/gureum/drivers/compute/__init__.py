"""Compute: guests (instances) as isolated process trees on this host."""

from .base import ComputeDriver, GuestSpec, Limits, NetworkPlan, NoFreeNetwork, Usage

__all__ = ["ComputeDriver", "GuestSpec", "Limits", "NetworkPlan", "NoFreeNetwork", "Usage"]
