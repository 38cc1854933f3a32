"""Desired state against actual: places, deploys, moves and stops replicas."""
