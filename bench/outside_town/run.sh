#!/bin/bash
# usage: run.sh TOWN_DIR NAME [pub.py options: --batch N --shuffle SEED]
# A fresh hub, the town published through the gateway, persons/threads/places scored.
#   python3 gen.py --seed 8 --noise 0.3 --out s8town0.3 && ./run.sh s8town0.3 s8n30 --batch 50
set -e
D=$(cd "$(dirname "$0")" && pwd); T=$1; N=$2; shift 2
cd $D
mkdir -p results
./hubctl.sh stop >/dev/null 2>&1 || true
./hubctl.sh start
python3 pub.py $T/events.jsonl "$@"
python3 score.py $T/truth.json $T/events.jsonl --out $D/results/$N.json | tee $D/results/$N.txt
./hubctl.sh stop
