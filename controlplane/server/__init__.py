"""The control-plane process: configuration, wiring, and the loops that keep it current."""
