"""The inference server: one scoring server for entry scripts and no-code MLflow models.

It runs inside the model's environment, so it imports only what scoring needs.
"""
