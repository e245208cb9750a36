#!/usr/bin/env bash
# The ACLs of compose.yaml's cluster (StandardAuthorizer, allow.everyone.if.no.acl.found=false:
# without an ACL a principal can do nothing). Run once after the brokers are up, and again
# after adding an agency (it only adds):
#   docker compose run --rm acls
# Each agency may Write (and Describe) its own topic only. The hub (User:civic-hub) reads
# every agency topic and writes them too (the HTTP gateway publishes for agencies that cannot
# speak Kafka; it checks each event's agency against the token's), owns hub.* topics
# (dead letters, coordination, hub.internal.* streams), its consumer groups hub.internal.*,
# creates the topics at `civic-hub up` and reads the cluster id.
set -euo pipefail
BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka1:9093}"
AGENCIES="${HUB_AGENCIES:-police,city,civil,court}"
HUB="${HUB_PRINCIPAL:-civic-hub}"
ACLS=(/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP"
      --command-config /run/secrets/kafka_admin.properties)

IFS=, read -r -a list <<< "$AGENCIES"
for a in "${list[@]}"; do
  "${ACLS[@]}" --add --allow-principal "User:agency-$a" \
    --operation Write --operation Describe --topic "agency.$a"
done
"${ACLS[@]}" --add --allow-principal "User:$HUB" --resource-pattern-type prefixed \
  --topic agency. --operation Read --operation Write --operation Describe \
  --operation Create --operation DescribeConfigs
"${ACLS[@]}" --add --allow-principal "User:$HUB" --resource-pattern-type prefixed \
  --topic hub. --operation All
"${ACLS[@]}" --add --allow-principal "User:$HUB" --resource-pattern-type prefixed \
  --group hub.internal. --operation All
"${ACLS[@]}" --add --allow-principal "User:$HUB" --cluster \
  --operation Describe --operation IdempotentWrite
"${ACLS[@]}" --list
