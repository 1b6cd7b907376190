"""The `clawdata` command: drives the local instance (default) or a deployment (--url)."""
