"""One module per group of tpctl commands; each imports only click at the top.

Heavier modules (gRPC, pydantic, rich) are imported inside the command bodies,
so that `tpctl --help` and shell completion, which load every module here, stay fast.
"""
