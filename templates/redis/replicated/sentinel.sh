#!/bin/sh
# sentinel.sh -- the command of every Sentinel of a replicated Redis (misp-gen writes this file
# unchanged, mounts it and runs `sh sentinel.sh`). It runs as the container's user (root in the
# official redis image), writes the Sentinel's config into /data/sentinel.conf (the Sentinel's own
# volume: Sentinel rewrites this file as it learns, so it must be writable and kept) and execs the
# official `docker-entrypoint.sh redis-server /data/sentinel.conf --sentinel` (redis-server with
# --sentinel rather than redis-sentinel: the official entrypoint steps down to user redis for
# redis-server only). Plain POSIX sh, like member.sh.
#
# The file is made anew at every start, so that a changed setting or password takes effect: the
# shared settings (sentinel.conf), then the monitored primary and its timeouts from the
# environment, then the state the Sentinel kept from its previous run (its id, the epochs, the
# replicas and Sentinels it knew). The primary it monitors is, in this order:
#   1. the one most of the other Sentinels that answer name (they are running: the freshest view);
#   2. the one this Sentinel monitored when it stopped (its kept /data/sentinel.conf);
#   3. the first member of REDIS_MEMBERS (the very first start).
# Every other member is listed as a known replica of it from the start (Sentinel would otherwise
# learn of them only from the primary's INFO, every 10 s; a failover in that window leaves the
# replicas it does not know following the dead primary).
# Sentinel exits at start when the name it is to monitor does not resolve (a stopped container
# has no name in Docker's DNS): it then waits up to REDIS_SENTINEL_WAIT seconds for the name or for
# another Sentinel's answer, then exits non-zero (the restart policy retries).
#
# Environment (set by the renderer):
#   REDIS_SELF                 this Sentinel's name (redis-sentinel-N), announced to the others
#   REDIS_MEMBERS              comma-separated member names, in order (redis-1,redis-2,redis-3)
#   REDIS_SENTINELS            comma-separated Sentinel names, this one included
#   REDIS_MASTER_NAME          the name the primary is monitored under (default: redis)
#   REDIS_PASSWORD_FILE        file holding the password of the members and of the Sentinels
#   REDIS_QUORUM               Sentinels that must agree the primary is down (default: a majority)
#   REDIS_DOWN_AFTER_MS        a primary that answers no PING for this long is down (default 3000)
#   REDIS_FAILOVER_TIMEOUT_MS  Sentinel's failover-timeout (default 10000)
#   REDIS_SENTINEL_WAIT        seconds to wait for the primary's name to resolve (default 60)
#   REDIS_SENTINEL_CONF        the shared settings (default: sentinel.conf beside this script)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
self=${REDIS_SELF:?REDIS_SELF is not set (e.g. redis-sentinel-1)}
members=${REDIS_MEMBERS:?REDIS_MEMBERS is not set (e.g. redis-1,redis-2,redis-3)}
sentinels=${REDIS_SENTINELS:?REDIS_SENTINELS is not set (e.g. redis-sentinel-1,redis-sentinel-2,redis-sentinel-3)}
name=${REDIS_MASTER_NAME:-redis}
shared=${REDIS_SENTINEL_CONF:-$here/sentinel.conf}
n_sentinels=$(printf '%s' "$sentinels" | tr ',' '\n' | grep -c .)
quorum=${REDIS_QUORUM:-$((n_sentinels / 2 + 1))}
down_after=${REDIS_DOWN_AFTER_MS:-3000}
failover_timeout=${REDIS_FAILOVER_TIMEOUT_MS:-10000}
wait_s=${REDIS_SENTINEL_WAIT:-60}
conf=/data/sentinel.conf
first=${members%%,*}

log() { printf '%s [redis sentinel %s] %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$self" "$*"; }
is_member() { case ",$members," in *",$1,"*) return 0 ;; esac; return 1; }
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; }
resolves() {
  if command -v getent >/dev/null 2>&1; then getent hosts "$1" >/dev/null 2>&1
  else nslookup "$1" >/dev/null 2>&1; fi
}

password=$(cat "${REDIS_PASSWORD_FILE:?REDIS_PASSWORD_FILE is not set}")
[ -n "$password" ] || { log "the password file $REDIS_PASSWORD_FILE is empty" >&2; exit 1; }
case $password in *'
'*) log "the password holds a line break" >&2; exit 1 ;; esac
REDISCLI_AUTH=$password
export REDISCLI_AUTH

# The primary most of the other Sentinels that answer name, or nothing.
peers_view() {
  for s in $(printf '%s' "$sentinels" | tr ',' ' '); do
    [ "$s" != "$self" ] || continue
    timeout 2 redis-cli -h "$s" -p 26379 --raw SENTINEL get-master-addr-by-name "$name" 2>/dev/null \
      | head -n 1 || true
  done | awk 'NF == 1' | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }'
}

# What the previous run kept: the monitored primary, and the lines of Sentinel's own state (its
# id, the epochs, the other Sentinels it knew); the known replicas are made anew below.
kept_primary='' kept=''
if [ -s "$conf" ]; then
  kept_primary=$(awk -v n="$name" '$1 == "sentinel" && $2 == "monitor" && $3 == n { print $4; exit }' "$conf")
  kept=$(grep -E "^sentinel (myid|current-epoch) |^sentinel (config-epoch|leader-epoch|known-sentinel) $name " "$conf" \
    | awk '!seen[$0]++' || true)
  if [ -n "$kept_primary" ] && ! is_member "$kept_primary"; then
    log "the kept primary $kept_primary is not a member of $members: forgotten"
    kept_primary=''
  fi
fi

deadline=$(($(date +%s) + wait_s))
while :; do
  primary=$(peers_view) from='the other Sentinels'
  if [ -n "$primary" ] && ! is_member "$primary"; then primary=''; fi
  if [ -z "$primary" ] && [ -n "$kept_primary" ]; then primary=$kept_primary from='its previous run'; fi
  if [ -z "$primary" ]; then primary=$first from='the first member (first start)'; fi
  resolves "$primary" && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "the primary $primary (from $from) has no address after ${wait_s}s: exiting, to be restarted" >&2
    exit 1
  fi
  sleep 1
done

# The epochs kept belong to the primary kept: dropped when the primary changed. Other Sentinels
# are kept only while they are still in REDIS_SENTINELS.
if [ "$primary" != "$kept_primary" ]; then
  kept=$(printf '%s\n' "$kept" | grep -vE "^sentinel (config-epoch|leader-epoch) " || true)
fi
kept=$(printf '%s\n' "$kept" | awk -v list=",$sentinels," -v self="$self" '
  $2 == "known-sentinel" { if (index(list, "," $4 ",") == 0 || $4 == self) next }
  NF { print }')
# Every other member is a replica from the start: Sentinel learns replicas from the primary's INFO
# only every 10 s, and a replica it does not know is neither promoted nor moved to the new primary
# in a failover (it would go on following the dead one).
replicas=''
for m in $(printf '%s' "$members" | tr ',' ' '); do
  [ "$m" = "$primary" ] || replicas=$(printf '%s\nsentinel known-replica %s %s 6379' "$replicas" "$name" "$m")
done

umask 0077
{
  printf '# Written by sentinel.sh at every start of %s from %s and the environment, then\n' "$self" "$shared"
  printf '# rewritten by Sentinel as it learns; what it learnt is kept across starts. Do not edit.\n'
  cat "$shared"
  printf '\n# This Sentinel (sentinel.sh)\n'
  printf 'sentinel announce-ip %s\n' "$self"
  printf 'sentinel announce-port 26379\n'
  printf 'requirepass %s\n' "$(quote "$password")"
  printf 'sentinel sentinel-pass %s\n' "$(quote "$password")"
  printf 'sentinel monitor %s %s 6379 %s\n' "$name" "$primary" "$quorum"
  printf 'sentinel auth-pass %s %s\n' "$name" "$(quote "$password")"
  printf 'sentinel down-after-milliseconds %s %s\n' "$name" "$down_after"
  printf 'sentinel failover-timeout %s %s\n' "$name" "$failover_timeout"
  printf 'sentinel parallel-syncs %s 1\n' "$name"
  printf '%s\n' "$replicas"
  if [ -n "$kept" ]; then
    printf '\n# Kept from the previous run\n%s\n' "$kept"
  fi
} >"$conf.tmp"
mv -f "$conf.tmp" "$conf"

log "monitoring $name at $primary (from $from), quorum $quorum of $n_sentinels"
cd /data
exec docker-entrypoint.sh redis-server "$conf" --sentinel
