"""What the Shoal daemons and the client share."""
