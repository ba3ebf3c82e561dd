"""Monitoring models: data profiles, drift and prediction quality on the models' own streams."""
