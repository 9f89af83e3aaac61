"""NeonChat: a Django messenger backend (REST, WebSocket, gRPC)."""
