"""From-scratch PyTorch re-implementations of the competing networks.

Module and parameter names mirror the authors' state_dict keys so the released files load with
``load_state_dict(strict=True)``; each ``trace`` method returns the final output together with
the intermediates listed in the reference golden files (see
``../shared/reference/competitors/README.md``), so that tests can check every stage.
"""
