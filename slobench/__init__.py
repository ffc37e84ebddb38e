"""slobench: how many requests per second per GPU a serving system takes while SLOs hold."""

__version__ = "0.1.0"
