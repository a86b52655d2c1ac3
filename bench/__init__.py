"""Benchmarks of django-multipay: throughput, SQL per operation, cost at scale, memory."""
