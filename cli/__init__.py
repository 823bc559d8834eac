"""The `shoal` client: one short-lived process per command, talking to the manager's Control API."""

import os
import sys

# gRPC's C core writes its own lines to stderr when a TLS handshake fails, next to the one-line
# error the client prints. It reads GRPC_VERBOSITY once, when grpc is first imported, so setting
# it later would only leak into child processes. A value the user set still wins.
if "grpc" not in sys.modules:
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
