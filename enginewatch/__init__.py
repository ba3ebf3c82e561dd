"""enginewatch: watch a fleet of deployed model engines."""

__version__ = "0.1.0"
