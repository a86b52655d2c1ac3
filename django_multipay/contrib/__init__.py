"""Integrations with other Django apps, each imported only by a shop that uses that app."""
