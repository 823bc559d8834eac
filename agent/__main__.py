"""`python -m agent`: what `agent join` execs into to go on as `agent run`."""

from agent.entry import main

main()
