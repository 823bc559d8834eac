"""Desired state -> tasks."""
