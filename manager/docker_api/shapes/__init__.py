"""Docker's JSON <-> Shoal's domain types: the one place where the Docker Engine API's shapes
(ServiceSpec, Task, Node, Network, events, as moby's api/swagger.yaml for v1.41 draws them) meet
common.model. Nothing here touches protobuf or the store."""
