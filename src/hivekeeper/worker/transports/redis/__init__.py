"""Redis: the worker's data store (datasets, pushes, debug captures, ``sequence()`` counters)."""
