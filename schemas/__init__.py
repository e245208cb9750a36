"""The event catalog: the CloudEvents envelope and one JSON Schema per event type and version."""
