"""`shoal stack ...`: compose files deployed as services, the way `docker stack` does it.

loader reads the files through compose's own loader, convert turns its normalized model into
service specs, plan compares them with what runs, deploy carries the plan out and waits, command
holds the command line.
"""
