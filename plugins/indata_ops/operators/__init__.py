"""Operators of the INDATA backup chain that the Amazon provider does not have (or that need a changed behaviour)."""
