"""tokenplane's node agent: joins, reports the node's truth, runs the replicas it is told to run.

Agents import the API's generated code (`tokenplane.v1`) and the shared
resource models (`controlplane.resources`), never the control plane's internals.
"""

__version__ = "0.1.0"
