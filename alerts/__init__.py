"""The alerts worker: rules evaluated over the archive topic's points, in event time."""
