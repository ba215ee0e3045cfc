"""The Glue job's tests; a package so that module names such as test_sample_data may repeat tests/config's."""
