"""mirror: a real-time magic mirror that changes a face's apparent gender and age."""

__version__ = "0.1.0"
