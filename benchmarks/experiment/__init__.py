"""The experiment: configuration, the matrix of cells, task data, fitting one cell, executors, the runner.

Flow: ``config`` (profile + TOML + flags) -> ``matrix`` (cells and their seeds) -> ``taskdata`` (design
matrix, labels, outer folds) -> ``cell`` (tune, fit and predict one cell) run by an ``executors`` backend
-> ``runner`` (skip finished cells, combine late fusion, consolidate through ``benchmarks.store``).
"""
