"""Sensors of the INDATA backup chain."""
