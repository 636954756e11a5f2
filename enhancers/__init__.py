"""Low-light enhancement methods behind one interface.

    >>> import enhancers
    >>> m = enhancers.create_method("zero_dce", device="auto", weights_dir="../shared/weights")
    >>> out = m.enhance(img)          # H x W x 3 uint8 / float [0, 1] -> H x W x 3 float32 [0, 1]
    >>> m.info.parameters, m.info.weights_licence

Methods: identity (``raw``), classical (``he``, ``clahe``, ``gamma``, ``gamma_auto``, ``lime``,
``msrcr``), learned with the authors' released weights (``zero_dce``, ``zero_dce_pp``,
``sci_{easy,medium,difficult}``, ``ruas_{lol,upe,dark}``, ``uretinex``; newer:
``pairlie``, ``selfdace_stage1``, ``zero_ig``) and ``diffll``.
Command line: ``enhance --list`` and ``enhance --method NAME -o OUT INPUT...``.
"""

import importlib
from typing import Any

# Names resolved on first use (PEP 562), so `import enhancers` and `enhance --help` do not
# import torch; `from enhancers import create_method` works as before.
_LAZY = {
    "Method": "enhancers.base",
    "MethodInfo": "enhancers.base",
    "FolderResult": "enhancers.folder",
    "collect_inputs": "enhancers.folder",
    "enhance_folder": "enhancers.folder",
    "create_method": "enhancers.registry",
    "list_methods": "enhancers.registry",
    "method_info": "enhancers.registry",
    "method_options": "enhancers.registry",
    "register_method": "enhancers.registry",
    "unregister_method": "enhancers.registry",
    "WeightsError": "enhancers.weights",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'enhancers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
