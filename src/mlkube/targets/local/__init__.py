"""The local target: inference servers and the gateway as supervised processes on 127.0.0.1."""
