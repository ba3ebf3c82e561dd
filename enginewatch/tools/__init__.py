"""Operator tools: record a topic, replay a recording, simulate a fleet of engines."""
