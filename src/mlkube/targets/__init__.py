"""Deployment targets (local processes, Docker, Kubernetes) behind one interface."""
