"""Triggers of the INDATA backup chain: async waits that run in Airflow's triggerer."""
