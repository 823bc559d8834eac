"""`python -m manager`: what `manager join` execs into to go on as `manager serve`."""

from manager.entry import main

main()
