#!/usr/bin/env bash
# Makes everything compose.yaml mounts as a secret, under deploy/secrets/ (git-ignored):
#   ca.pem, ca-key.pem                 a private CA (keep ca-key.pem offline after this)
#   kafka1.pem … kafka3.pem            each broker's key and certificate (PEM keystore)
#   api.pem, api-key.pem               the certificate the TLS proxy presents for the API
#   kafka_<principal>_password         a random SCRAM-SHA-512 password per principal:
#                                      broker (inter-broker), admin (the ACL script),
#                                      civic-hub (the hub), agency-<agency> (each agency)
#   kafka_admin.properties             client settings for the ACL script (SASL_SSL)
# Existing files are kept: run it again after adding an agency. No secret is printed.
#   usage: deploy/secrets.sh [api-host-name]      (default civic-hub.local)
set -euo pipefail
cd "$(dirname "$0")"
API_HOST="${1:-civic-hub.local}"
AGENCIES="${HUB_AGENCIES:-police,city,civil,court}"
DAYS=825
umask 077
mkdir -p secrets
cd secrets

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=civic-hub private CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
fi

# A key and a certificate signed by the CA, for host name $1 (SAN), written as $2.pem (key
# first, then the certificate: Kafka's PEM keystore) and $2-key.pem / $2-cert.pem.
issue() {
  local host="$1" name="$2"
  [ -f "$name.pem" ] && return 0
  openssl req -newkey rsa:3072 -nodes -subj "/CN=$host" -keyout "$name-key.pem" \
    -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$host" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$DAYS" \
    -extfile "$name.ext" -out "$name-cert.pem" 2>/dev/null
  # Kafka reads a PKCS#8 key from a PEM keystore
  openssl pkcs8 -topk8 -nocrypt -in "$name-key.pem" -out "$name-key.p8"
  cat "$name-key.p8" "$name-cert.pem" > "$name.pem"
  rm -f "$name.csr" "$name.ext" "$name-key.p8"
}
for n in 1 2 3; do issue "kafka$n" "kafka$n"; done
issue "$API_HOST" api
cp -f api-cert.pem api-chain.pem

password() {
  local file="kafka_$1_password"
  [ -f "$file" ] || openssl rand -base64 32 | tr -d '/+=\n' | head -c 40 > "$file"
}
password broker
password admin
password civic-hub
IFS=, read -r -a list <<< "$AGENCIES"
for a in "${list[@]}"; do password "agency-$a"; done

cat > kafka_admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat kafka_admin_password)";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/ca.pem
PROPS
chmod 600 ./*
echo "secrets written to $(pwd) (CA, 3 broker certificates, the API certificate for $API_HOST, passwords for broker, admin, civic-hub and agency-{${AGENCIES}})"
