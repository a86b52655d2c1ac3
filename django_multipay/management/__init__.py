"""Management commands of django-multipay."""
