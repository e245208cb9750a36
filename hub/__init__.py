"""Civic Hub: the query API, policy, audit, command line and embedded stack."""

__version__ = "0.1.0"
