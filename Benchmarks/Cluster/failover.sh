#!/usr/bin/env bash
# Failover of a kefud cluster (issue #12): how long a shop goes unserved when its node is killed with SIGKILL, and
# when its node is cut off by a network partition. Starts its own PostgreSQL (Debian's, as the postgres user, in a
# temporary directory) and three kefud nodes on loopback; needs root. Usage:
#   Benchmarks/Cluster/failover.sh [kill-trials (20)] [partition-trials (5)]
# KEFUD and KEFUCTL name the binaries (default: .build/debug, else .build/release; failover time is the cluster's
# timings, not the binary's speed).
# A trial's time runs from the signal (or the link going down) to the first LOGIN for the shop answered OK, by a
# client that asks a surviving node and follows MOVED (as PROTOCOL.md says clients do), polling every 50 ms.
set -euo pipefail
KILLS=${1:-20}
PARTITIONS=${2:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bin() { for d in debug release; do [ -x "$ROOT/.build/$d/$1" ] && { echo "$ROOT/.build/$d/$1"; return; }; done; echo "build $1 first" >&2; exit 1; }
KEFUD=${KEFUD:-$(bin kefud)}
KEFUCTL=${KEFUCTL:-$(bin kefuctl)}
PG=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/kefu-failover-XXXX)
NS=kefu-fo-$$
chmod 755 "$WORK"; chown postgres "$WORK"
cleanup() {
  pkill -9 -f "kefud --config $WORK" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" stop -m immediate >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

# The partition's link: node p in its own namespace, PostgreSQL reachable over a veth pair.
ip netns add "$NS"
ip link add kfoh$$ type veth peer name kfon$$
ip link set kfon$$ netns "$NS"
ip addr add 10.214.0.1/30 dev kfoh$$; ip link set kfoh$$ up
ip netns exec "$NS" ip addr add 10.214.0.2/30 dev kfon$$
ip netns exec "$NS" ip link set kfon$$ up; ip netns exec "$NS" ip link set lo up

runuser -u postgres -- "$PG/initdb" -D "$WORK/pg" -U kefu -A trust --no-sync >/dev/null
echo "host all all 10.214.0.0/24 trust" >> "$WORK/pg/pg_hba.conf"
PGPORT=55$((RANDOM % 90 + 10))
runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start -o "-p $PGPORT -k $WORK \
  -c listen_addresses=127.0.0.1,10.214.0.1 -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 \
  -c tcp_keepalives_count=3 -c client_connection_check_interval=2000" >/dev/null
"$PG/createdb" -h 127.0.0.1 -p "$PGPORT" -U kefu kefu
export KEFU_POSTGRES="postgresql://kefu@127.0.0.1:$PGPORT/kefu"
psql() { "$PG/psql" -h 127.0.0.1 -p "$PGPORT" -U kefu -d kefu -XAtc "$1"; }

"$KEFUD" --print-demo-config | sed '/^\[server\]/,/^$/d' > "$WORK/shop.toml"
for shop in acme brand-b brand-c; do "$KEFUCTL" shop apply "$shop" "$WORK/shop.toml" >/dev/null; done

declare -A PORT PID
start() {  # start <node> <port> [host] [postgres host] [launcher...]
  local name=$1 port=$2 host=${3:-127.0.0.1} pghost=${4:-127.0.0.1}; shift 4 || shift $#
  mkdir -p "$WORK/$name"
  printf '[server]\nlisten = "%s:%s"\n[cluster]\npostgres = "postgresql://kefu@%s:%s/kefu"\nnode = "%s"\nadvertise = "%s:%s"\n' \
    "$host" "$port" "$pghost" "$PGPORT" "$name" "$host" "$port" > "$WORK/$name/kefud.toml"
  "$@" "$KEFUD" --config "$WORK/$name/kefud.toml" --state-dir "$WORK/$name" --log-target stderr \
    > "$WORK/$name/log" 2>&1 &
  PID[$name]=$!; PORT[$name]=$port
}
owner() { psql "SELECT owner FROM kefu_leases WHERE shop = '$1' AND expires_at > now()"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One LOGIN at host:port; prints the reply's completion line or the MOVED line.
ask() {
  exec 3<>"/dev/tcp/$1/$2" 2>/dev/null || return 1
  printf 'l LOGIN agent alice alice-secret shop=acme\n' >&3
  local line; while IFS= read -r -t 1 line <&3; do
    case $line in "* MOVED "*) echo "$line";; "l "*) echo "$line"; break;; esac
  done
  exec 3>&- 3<&-
}
# Polls until a LOGIN for acme is answered OK, starting at 127.0.0.1:$1 and following MOVED.
wait_served() {
  local host=127.0.0.1 port=$1
  while :; do
    local reply; reply=$(ask "$host" "$port" || true)
    case $reply in
      *"l OK"*) return 0;;
      *"* MOVED "*) local node=${reply#*node=}; node=${node%% *}; host=${node%:*}; port=${node#*:};;
      *) host=127.0.0.1; port=$1;;
    esac
    sleep 0.05
  done
}
stats() {  # stats <label> <ms...>
  local label=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v label="$label" '{ v[NR] = $1 } END {
    p50 = v[int((NR + 1) / 2)]; i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
    printf "%s: %d trials, p50 %.2f s, p99 %.2f s, max %.2f s\n", label, NR, p50 / 1000, v[i99] / 1000, v[NR] / 1000 }'
}

BASE=$((7400 + RANDOM % 500 * 4))
PORT[a]=$BASE; PORT[b]=$((BASE + 1)); PORT[c]=$((BASE + 2)); PORT[z]=$((BASE + 3))
for n in a b c; do start $n "${PORT[$n]}"; sleep 0.3; done
until [ "$(psql "SELECT count(DISTINCT owner) FROM kefu_leases WHERE expires_at > now()")" = 3 ]; do sleep 0.2; done

kills=()
for trial in $(seq "$KILLS"); do
  victim=$(owner acme); [ -n "$victim" ] || { sleep 0.2; continue; }
  survivor=$(for n in a b c; do [ "$n" != "$victim" ] && echo $n && break; done)
  start_ms=$(now_ms); kill -9 "${PID[$victim]}"
  wait_served "${PORT[$survivor]}"
  kills+=($(( $(now_ms) - start_ms )))
  wait "${PID[$victim]}" 2>/dev/null || true
  start "$victim" "${PORT[$victim]}"; sleep 2   # back in, shares settle
done
stats "kill -9 (lease_ttl_s 10, probe_every_s 0.5)" "${kills[@]}"

# Partitions: node p (in the namespace) serves acme alone, then its link goes down.
partitions=()
for trial in $(seq "$PARTITIONS"); do
  for n in a b c; do kill -9 "${PID[$n]}" 2>/dev/null || true; done; wait 2>/dev/null || true
  start p 7390 10.214.0.2 10.214.0.1 ip netns exec "$NS"
  until [ "$(owner acme)" = p ] && [ "$(owner brand-b)" = p ]; do sleep 0.2; done
  start z "${PORT[z]}"; sleep 1
  start_ms=$(now_ms); ip link set kfoh$$ down
  wait_served "${PORT[z]}"
  partitions+=($(( $(now_ms) - start_ms )))
  ip link set kfoh$$ up
  kill -9 "${PID[p]}" "${PID[z]}" 2>/dev/null || true; wait 2>/dev/null || true
  psql "UPDATE kefu_leases SET owner = NULL, expires_at = '-infinity'" >/dev/null
  for n in a b c; do start $n "${PORT[$n]}"; done
  sleep 1
done
stats "partition (lease_ttl_s 10)" "${partitions[@]}"
