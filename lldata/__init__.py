"""Low-light face datasets: read, validate and write DARK FACE-style, paired and unpaired sets,
synthesise low-light images, and build the built-in demo dataset.

Every other package loads images through :func:`lldata.imageio.read_rgb` so that "an image" means
the same thing everywhere: RGB uint8, EXIF orientation applied, whatever the file stores.
"""

from lldata.imageio import ImageReadError, read_rgb, write_png

__all__ = ["ImageReadError", "read_rgb", "write_png"]
