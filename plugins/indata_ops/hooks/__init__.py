"""Hooks: every AWS call the INDATA backup makes beyond the provider's own operators lives here."""
