"""The docker target: the local target's endpoints with each instance in a container."""
