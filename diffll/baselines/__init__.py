"""Diffusion baselines that DiffLL's headline is measured against, for timing only.

DiffLL runs its conditional DDIM on the Haar low band, at 1/4^K of the pixels. The paper's
claim (its Fig. 2 and Table 2) is that this is many times faster and lighter than conditional
diffusion in pixel space. These modules build the networks that claim is measured against, with
seeded random weights (no trained weights exist here):

* :mod:`diffll.baselines.pixel_ddim`: DiffLL's own UNet and 10-step DDIM on the full-resolution
  image (no wavelet, no HFRM): the paper's "DDIM" baseline.
* :mod:`diffll.baselines.weatherdiff`: the patch-based conditional diffusion of Özdenizci and
  Legenstein (TPAMI 2023), their released restoration configuration (64-pixel patches, stride
  16, 25 DDIM steps, UNet width 128).
* :mod:`diffll.baselines.costs`: FLOPs per image of each (and of DiffLL at any K) and rough
  memory estimates.

:mod:`efficiency.diffusion_timing` puts these and DiffLL at wavelet depth K = 1, 2, 3 behind the
enhancement-method interface, so that ``efficiency run --diffusion-baselines`` times them with
the one harness (it lives in ``efficiency`` because the interface is the enhancers' and
``enhancers`` already imports ``diffll``). They are not in the enhancer registry: their outputs
are noise from random weights, so they can never enter a quality or detection table.
"""
