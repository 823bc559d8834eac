"""The worker agent: holds a session with the manager and runs its assigned tasks."""
