"""Generated gRPC and protobuf modules; `make proto` writes them."""
