"""`enginewatch demo`: the whole pipeline on the local services, then a per-model summary."""
