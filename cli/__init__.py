"""The `shoal` client: one short-lived process per command, talking to the manager's Control API."""
