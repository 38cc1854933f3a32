"""`tpctl`, the kubectl-style command line of tokenplane.

Only `click` is imported on start-up; gRPC, pydantic, YAML and rich are loaded
by the commands that need them, so that `tpctl --help` and completion stay fast.
"""
