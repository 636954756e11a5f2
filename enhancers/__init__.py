"""Low-light enhancement methods behind one interface.

    >>> import enhancers
    >>> m = enhancers.create_method("zero_dce", device="auto", weights_dir="../shared/weights")
    >>> out = m.enhance(img)          # H x W x 3 uint8 / float [0, 1] -> H x W x 3 float32 [0, 1]
    >>> m.info.parameters, m.info.weights_licence

Methods: identity (``raw``), classical (``he``, ``clahe``, ``gamma``, ``gamma_auto``, ``lime``,
``msrcr``), learned with the authors' released weights (``zero_dce``, ``zero_dce_pp``,
``sci_{easy,medium,difficult}``, ``ruas_{lol,upe,dark}``, ``uretinex``) and ``diffll``.
Command line: ``enhance --list`` and ``enhance --method NAME -o OUT INPUT...``.
"""

from enhancers.base import Method, MethodInfo
from enhancers.folder import FolderResult, collect_inputs, enhance_folder
from enhancers.registry import create_method, list_methods, method_info, method_options
from enhancers.weights import WeightsError

__all__ = [
    "FolderResult",
    "Method",
    "MethodInfo",
    "WeightsError",
    "collect_inputs",
    "create_method",
    "enhance_folder",
    "list_methods",
    "method_info",
    "method_options",
]
