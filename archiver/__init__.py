"""The archiver: archive topic -> InfluxDB (v1 or v2 write API) or line protocol files."""
