"""spma: make a host's packages exactly what its compiled Quattor profile declares."""

__version__ = "0.1.0"
