"""The `mlkube` command line: thin Typer commands over the operations layer."""
