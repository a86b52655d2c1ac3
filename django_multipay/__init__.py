"""Take payments through several gateways behind one set of Django models, views and signals."""

__version__ = "0.1.0.dev0"
