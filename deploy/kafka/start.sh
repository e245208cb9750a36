#!/usr/bin/env bash
# Starts one KRaft broker+controller of compose.yaml with:
#   CLIENT://:9093      SASL_SSL, SCRAM-SHA-512   agencies and the hub
#   BROKER://:9092      SASL_SSL, SCRAM-SHA-512   between brokers (user "broker")
#   CONTROLLER://:9094  SSL with client certificates (SCRAM cannot serve the controller
#                       listener: its credentials live in the metadata the controllers serve)
# and the ACL authorizer (StandardAuthorizer): no ACL, no access. The SCRAM users are
# written into the metadata when the storage is formatted (kafka-storage --add-scram), so
# the brokers can authenticate to each other before any ACL or user exists.
# Listener names avoid "SSL" on purpose: the image's own env-driven configuration would
# then demand JKS keystores; this script writes server.properties itself.
set -euo pipefail
: "${KAFKA_NODE_ID:?}" "${CLUSTER_ID:?}"
S=/run/secrets
AGENCIES="${HUB_AGENCIES:-police,city,civil,court}"
CONF=/tmp/server.properties
pw() { cat "$S/kafka_$1_password"; }
host="kafka${KAFKA_NODE_ID}"

cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=1@kafka1:9094,2@kafka2:9094,3@kafka3:9094
listeners=CLIENT://:9093,BROKER://:9092,CONTROLLER://:9094
advertised.listeners=CLIENT://${host}:9093,BROKER://${host}:9092
listener.security.protocol.map=CLIENT:SASL_SSL,BROKER:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=BROKER
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.broker.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$(pw broker)";
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=${S}/${host}.pem
ssl.truststore.type=PEM
ssl.truststore.location=${S}/ca.pem
ssl.endpoint.identification.algorithm=https
listener.name.controller.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([a-zA-Z0-9.-]+)$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:broker;User:admin;User:kafka1;User:kafka2;User:kafka3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
auto.create.topics.enable=false
log.dirs=/var/lib/kafka/data
PROPS

if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  scram=(--add-scram "SCRAM-SHA-512=[name=broker,password=$(pw broker)]"
         --add-scram "SCRAM-SHA-512=[name=admin,password=$(pw admin)]"
         --add-scram "SCRAM-SHA-512=[name=civic-hub,password=$(pw civic-hub)]")
  IFS=, read -r -a list <<< "$AGENCIES"
  for a in "${list[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=agency-$a,password=$(pw "agency-$a")]")
  done
  /opt/kafka/bin/kafka-storage.sh format -t "$CLUSTER_ID" -c "$CONF" "${scram[@]}" >/dev/null
fi
exec /opt/kafka/bin/kafka-server-start.sh "$CONF"
