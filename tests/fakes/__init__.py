"""Loopback stand-ins for the outside systems the product talks to."""
