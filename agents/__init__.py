"""The stream agents: engine notifications in, metric points out."""
