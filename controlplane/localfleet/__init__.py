"""A whole tokenplane on one machine, for `tpctl up`: a default fleet of real places, sample
deployments with real demand, the processes that run them, a recorder and a report.

    places.py       cities, countries, cloud regions (extracts in data/, sources named there)
    fleet.py        the default fleet: factories, cloud regions, edge nodes
    deployments.py  the sample ModelDeployments and the daily shape of demand
    lifecycle.py    the steps of `tpctl up` and `tpctl down`
    launcher.py     detached processes, pid files, logs; stopping whole sessions
    run.py          the state dir and its record (up.json)
    observe.py      one look at the running fleet through the Fleet API
    recorder.py     samples it every simulated interval (a process of its own)
    report.py       carbon per million tokens, SLO, moves; the plot
"""
