"""gRPC servers: the Fleet API (tpctl, operators) and the Agent API (node agents)."""
