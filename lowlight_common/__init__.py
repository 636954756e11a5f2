"""Helpers shared by every package of the project, written once.

Each module has one job: :mod:`~lowlight_common.options` (the ``KEY=VALUE`` option grammar and
option checks against signatures), and the helpers that every package used to write again
(devices, hardware descriptions, file digests, sizes, strict dataclass loading, atomic JSON/CSV
writes). Nothing here imports another package of the project except :mod:`lldata.atomic`, so any
package may depend on it without a cycle.
"""
