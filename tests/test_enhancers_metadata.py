"""Method metadata are class attributes; ``Method.describe`` turns them and options into a
``MethodInfo`` (issue 17.4), so a plug-in declares what it is instead of writing describe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from enhancers.base import Method, resolve_device
from enhancers.learned import RUASMethod, SCIMethod, ZeroDCEPPMethod
from enhancers.registry import create_method, method_info, register_method, unregister_method


class Brighten(Method):
    name = "brighten"
    paper = "nobody, 2026"
    description = "Multiply by gain ({trained_on})."
    variants = {"soft": "gain 1.5", "hard": "gain 3"}

    def __init__(self, device: str | torch.device = "auto", weights_dir: str | None = None, *,
                 variant: str = "soft", clip: bool = True) -> None:
        info = self.describe(variant=variant, clip=clip)  # validates the variant
        self.gain = {"soft": 1.5, "hard": 3.0}[variant]
        super().__init__(info, resolve_device(device))

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return image * np.float32(self.gain)


def test_describe_fills_name_options_and_description_from_class_attributes() -> None:
    info = Brighten.describe(variant="hard")
    assert info.name == "brighten_hard" and info.family == "classical" and info.parameters == 0
    assert info.description == "Multiply by gain (gain 3)." and info.paper == "nobody, 2026"
    assert info.options == {"clip": True} and info.weights_files == () and info.weights_licence is None
    with pytest.raises(ValueError, match=r"brighten: variant must be one of \['hard', 'soft'\], got 'x'"):
        Brighten.describe(variant="x")


def test_a_registered_plugin_with_fixed_variant_is_described_and_built() -> None:
    register_method("brighten_hard", Brighten, {"variant": "hard"})
    try:
        assert method_info("brighten_hard").description == "Multiply by gain (gain 3)."
        out = create_method("brighten_hard", device="cpu").enhance(np.full((4, 4, 3), 0.1, np.float32))
        assert np.allclose(out, 0.3)
    finally:
        unregister_method("brighten_hard")


def test_a_class_without_a_name_says_so() -> None:
    class Nameless(Method):
        pass

    with pytest.raises(TypeError, match="Nameless: set the class attribute 'name'"):
        Nameless.describe()


def test_learned_metadata_come_from_the_class_and_the_counted_network() -> None:
    sci = SCIMethod.describe(variant="difficult")
    assert sci.name == "sci_difficult" and sci.weights_files == ("sci/difficult.pt",)
    assert sci.description.endswith("(trained on DARK FACE).") and sci.weights_licence
    assert sci.parameters == sum(p.numel() for p in SCIMethod.build_net({}).parameters())
    # RUAS: the denoiser counts only where it runs, and None resolves per variant.
    lol, upe = RUASMethod.describe(variant="lol"), RUASMethod.describe(variant="upe")
    assert lol.options == {"denoise": True} and upe.options == {"denoise": False}
    assert lol.parameters > upe.parameters and "+ noise removal" in lol.description
    assert "{" not in upe.description
    assert ZeroDCEPPMethod.describe(scale_factor=4).options == {"scale_factor": 4}
