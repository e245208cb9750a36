#!/bin/bash
# usage: hubctl.sh start|stop — a hub of its own for the outside town (port 8610, data here)
D=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$D/../.." && pwd)
case "$1" in
start)
  [ -f $D/hub.pid ] && kill -0 $(cat $D/hub.pid) 2>/dev/null && { echo "already running"; exit 1; }
  for try in 1 2 3 4 5; do
    while awk '$2 ~ /:21A2$/ {f=1} END {exit !f}' /proc/net/tcp; do sleep 2; done
    sleep 3
    rm -rf $D/data
    cd $ROOT && setsid bash -c "echo \$\$ > $D/hub.pid; HUB_TOKENS=$D/tokens.toml HUB_DATA_DIR=$D/data HUB_API_BIND=127.0.0.1:8610 exec .venv/bin/civic-hub up" > $D/hub.log 2>&1 &
    sleep 1
    for i in $(seq 1 90); do
      curl -sf http://127.0.0.1:8610/healthz >/dev/null && { echo up; exit 0; }
      kill -0 $(cat $D/hub.pid) 2>/dev/null || break
      sleep 2
    done
    echo "start attempt $try failed:"; tail -2 $D/hub.log
    kill -0 $(cat $D/hub.pid) 2>/dev/null && $0 stop
  done
  exit 1;;
stop)
  P=$(cat $D/hub.pid); kill -TERM -- -$P 2>/dev/null
  for i in $(seq 1 30); do kill -0 $P 2>/dev/null || break; sleep 1; done
  kill -0 $P 2>/dev/null && kill -KILL -- -$P
  echo stopped;;
esac
