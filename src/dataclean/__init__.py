"""dataclean: audit and clean image-classification datasets."""

__version__ = "0.1.0"
