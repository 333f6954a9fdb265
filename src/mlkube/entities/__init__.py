"""Spec entities (pydantic models) and their Azure ML v2 YAML form."""
