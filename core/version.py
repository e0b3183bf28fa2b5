"""The version of libtrad: written into every folder's marker and every results record."""

__version__ = "0.1.0"
