"""Helpers shared by every package of the project, written once.

One job per module: ``options`` (the one ``KEY=VALUE`` grammar, option types checked against
constructors), ``registry`` (lazy name -> class registries, one error type), ``devices``
(device resolution, hardware description), ``files`` (SHA-256 of a file), ``sizes`` (``WxH``),
``records`` (strict dataclass loading from dicts), ``memory`` (peak RSS), ``config_schema``
(the workflow config validated against its schema, defaults filled), ``metrics`` (PSNR of
two arrays), ``torch_files`` (a refused torch file's reason; loaded tensors checked float and
finite), ``run_lock`` (one workflow run per results folder), ``atomic`` (files written to a
temporary name and renamed: ``atomic_write``, ``write_json``, ``write_csv``).

This package imports no other package of the project, so every package may depend on it
without an import cycle (``tests/test_lowlight_common.py`` checks the whole graph).
"""
