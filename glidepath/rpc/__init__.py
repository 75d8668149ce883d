"""The thin gRPC layer every service shares: bootstrap, interceptors, error statuses."""
