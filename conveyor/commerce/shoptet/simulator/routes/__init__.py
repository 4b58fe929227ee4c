"""The simulator's endpoints, one module per resource; each has ``add_routes(app, sim)``."""
