"""`shoal dashboard`: a web view of the cluster served by the client, through the Control API
with the client's own credentials (like `kubectl proxy`): the manager gains no port."""
