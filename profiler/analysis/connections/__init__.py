"""A WebSocket run's analysis (docs/connections.md): the connections held per stage and what each
costs the target (figures.py, fit.py), its traits (traits.py) and the fleet sized in connections
(advice.py)."""
