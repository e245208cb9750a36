"""Every topic name the hub reads or writes (../shared/CONTRACT.md section 1), in one
place at the bottom of the layers: agencies publish to ``agency.<agency>``; the hub writes
``hub.deadletter`` and ``hub.coordination``; its own internal topics live under
``hub.internal.``."""

from __future__ import annotations

import re

# The agencies of the default deployment; a fifth is configuration (HUB_AGENCIES), a topic,
# a schema folder and a policy entry.
DEFAULT_AGENCIES = ("police", "city", "civil", "court")
DEADLETTER_TOPIC = "hub.deadletter"
COORDINATION_TOPIC = "hub.coordination"
INTERNAL_PREFIX = "hub.internal."
AGENCY_PREFIX = "agency."
RESOLUTION_SUFFIX = ".resolution"
# hub.deadletter takes records this large (topic max.message.bytes on real Kafka), so any
# record an agency topic accepted can be dead-lettered whole.
DEADLETTER_MAX_BYTES = 8 * 1024 * 1024
# A stream app id names the consumer group and the internal topics: it must sit under the
# internal prefix and be a legal Kafka topic name once a suffix is added.
_APP_ID = re.compile(r"^hub\.internal\.[A-Za-z0-9._-]{1,200}$")


def agency_topic(agency: str) -> str:
    return f"{AGENCY_PREFIX}{agency}"


def topic_agency(topic: str) -> str | None:
    """The agency an inbound topic belongs to, or None for any other topic."""
    if topic.startswith(AGENCY_PREFIX):
        return topic[len(AGENCY_PREFIX) :]
    return None


def check_app_id(app_id: str) -> str:
    """The app id, or ValueError saying what a valid one looks like."""
    if not _APP_ID.match(app_id) or app_id.endswith("."):
        raise ValueError(
            f"a stream app id must look like 'hub.internal.<name>' (letters, digits,"
            f" '.', '_', '-'), got {app_id!r}"
        )
    return app_id


def resolution_topic(app_id: str) -> str:
    """The hub's own decisions about who is who: an internal topic, part of the log."""
    return check_app_id(app_id) + RESOLUTION_SUFFIX


def is_resolution_topic(topic: str) -> bool:
    return topic.startswith(INTERNAL_PREFIX) and topic.endswith(RESOLUTION_SUFFIX)
