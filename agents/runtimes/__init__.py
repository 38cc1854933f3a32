"""Runtime drivers for real nodes: `process` (local processes) and `kubernetes` (an edge cluster).

Both implement agents.runtime.Runtime; the config's `agent.runtime.driver` picks one.
"""
