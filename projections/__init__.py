"""The shared read model: pure handlers per event type, and the store that writes their rows."""
