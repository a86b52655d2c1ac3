"""django-multipay's management commands."""
