"""DiffLL training split by job; :mod:`diffll.train` is the entry point (see its docstring)."""
