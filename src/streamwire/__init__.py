"""streamwire: stream AI responses to people in real time."""

from streamwire._version import __version__

__all__ = ["__version__"]
