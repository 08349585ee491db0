"""Tests for the gureum gateway."""
