"""Stream processing: intake (validate, dead-letter) and the projector, run by faust workers."""
