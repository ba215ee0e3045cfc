"""Notifiers of the INDATA backup DAGs."""
