"""Test support shipped with gureum: a real server fixture, fake clock."""
