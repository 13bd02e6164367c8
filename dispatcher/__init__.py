"""dispatcher: a multi-channel retention campaign dispatcher."""

__version__ = "0.1.0"
