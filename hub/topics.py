"""Creates the topics the hub needs when they are missing (``civic-hub up`` does this at start)."""

from __future__ import annotations

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from hub.bootstrap import new_admin
from hub.config import Settings
from schemas.topics import COORDINATION_TOPIC, DEADLETTER_MAX_BYTES, DEADLETTER_TOPIC


def required_topics(settings: Settings) -> list[str]:
    return [
        *settings.inbound_topics,
        DEADLETTER_TOPIC,
        COORDINATION_TOPIC,
        settings.resolution_topic,
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; returns the names that were created."""
    admin = new_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in required_topics(settings) if t not in existing]
        if missing:
            configs: dict[str, str] = {}
            if not settings.embedded_broker:
                configs = {"min.insync.replicas": str(min(2, settings.replication))}
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            settings.partitions,
                            settings.replication,
                            topic_configs=configs
                            | (
                                {"max.message.bytes": str(DEADLETTER_MAX_BYTES + 65536)}
                                if t == DEADLETTER_TOPIC and not settings.embedded_broker
                                else {}
                            ),
                        )
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:  # another process raced us: fine
                pass
        return missing
    finally:
        await admin.close()
