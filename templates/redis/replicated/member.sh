#!/bin/sh
# member.sh -- the command of every member of a replicated Redis (misp-gen writes this file
# unchanged, mounts it and runs `sh member.sh`). It runs as the container's user (root in the
# official redis image), writes the member's config into /data/member.conf and execs the official
# `docker-entrypoint.sh redis-server /data/member.conf`, which steps down to user redis.
# Plain POSIX sh with redis-cli, timeout, awk, sort and uniq: the official image's Debian and Alpine
# variants both have them.
#
# Primary or replica, decided at every start (never from a stored role):
#   1. the primary that a majority of the Sentinels name (SENTINEL get-master-addr-by-name), waiting
#      up to REDIS_SENTINEL_WAIT seconds for such a majority: a returning old primary that the
#      Sentinels replaced comes back as a replica of the promoted one, never as a second primary;
#   2. without a majority in time (the Sentinels are down too): the member that answers ROLE with
#      `master`;
#   3. without one: the first member of REDIS_MEMBERS (the primary of the first start).
# This member is the primary when the answer is itself, else it starts with `replicaof`. The
# Sentinels move the primary later on (failover) and reconfigure the members themselves.
#
# Environment (set by the renderer):
#   REDIS_MEMBERS          comma-separated member names, in order (redis-1,redis-2,redis-3); the
#                          first is the primary of the first start
#   REDIS_SELF             this member's name in REDIS_MEMBERS; announced to the primary and the
#                          Sentinels (replica-announce-ip), so a restarted member is found by name
#   REDIS_SENTINELS        comma-separated Sentinel names (redis-sentinel-1,...), port 26379
#   REDIS_MASTER_NAME      the name the Sentinels monitor the primary under (default: redis)
#   REDIS_PASSWORD_FILE    file holding the password: of the members (requirepass, masterauth)
#                          and of the Sentinels
#   REDIS_SENTINEL_WAIT    seconds to wait for a majority of the Sentinels (default 20)
#   REDIS_MEMBER_CONF      the shared settings (default: member.conf beside this script)
# Arguments given to member.sh are appended to redis-server's.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
self=${REDIS_SELF:?REDIS_SELF is not set (e.g. redis-1)}
members=${REDIS_MEMBERS:?REDIS_MEMBERS is not set (e.g. redis-1,redis-2,redis-3)}
sentinels=${REDIS_SENTINELS:?REDIS_SENTINELS is not set (e.g. redis-sentinel-1,redis-sentinel-2,redis-sentinel-3)}
name=${REDIS_MASTER_NAME:-redis}
shared=${REDIS_MEMBER_CONF:-$here/member.conf}
wait_s=${REDIS_SENTINEL_WAIT:-20}
conf=/data/member.conf
first=${members%%,*}

log() { printf '%s [redis member %s] %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$self" "$*"; }
is_member() { case ",$members," in *",$1,"*) return 0 ;; esac; return 1; }
# A value for redis.conf: in double quotes, backslash and double quote escaped.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; }

is_member "$self" || { log "REDIS_SELF=$self is not in REDIS_MEMBERS=$members" >&2; exit 1; }
password=$(cat "${REDIS_PASSWORD_FILE:?REDIS_PASSWORD_FILE is not set}")
[ -n "$password" ] || { log "the password file $REDIS_PASSWORD_FILE is empty" >&2; exit 1; }
case $password in *'
'*) log "the password holds a line break" >&2; exit 1 ;; esac
# redis-cli reads the password from here (not from its command line).
REDISCLI_AUTH=$password
export REDISCLI_AUTH

# The primary a majority of the Sentinels name, or nothing.
n_sentinels=$(printf '%s' "$sentinels" | tr ',' '\n' | grep -c .)
sentinel_view() {
  for s in $(printf '%s' "$sentinels" | tr ',' ' '); do
    timeout 2 redis-cli -h "$s" -p 26379 --raw SENTINEL get-master-addr-by-name "$name" 2>/dev/null \
      | head -n 1 || true
  done | awk 'NF == 1' | sort | uniq -c | sort -rn | awk -v need=$((n_sentinels / 2 + 1)) '$1 >= need { print $2; exit }'
}
# The first other member that answers ROLE with master, or nothing.
peer_primary() {
  for m in $(printf '%s' "$members" | tr ',' ' '); do
    [ "$m" != "$self" ] || continue
    r=$(timeout 2 redis-cli -h "$m" -p 6379 --raw ROLE 2>/dev/null | head -n 1 || true)
    if [ "$r" = master ]; then printf '%s\n' "$m"; return 0; fi
  done
  return 0
}

primary='' from=''
deadline=$(($(date +%s) + wait_s))
while :; do
  primary=$(sentinel_view)
  if [ -n "$primary" ]; then
    if is_member "$primary"; then from='a majority of the Sentinels'; break; fi
    log "the Sentinels name $primary, not a member of $members: ignored"
    primary=''
  fi
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 1
done
if [ -z "$primary" ]; then
  primary=$(peer_primary)
  if [ -n "$primary" ]; then
    from="no majority of the Sentinels within ${wait_s}s; $primary answers ROLE master"
  else
    primary=$first
    from="no majority of the Sentinels within ${wait_s}s and no member answers ROLE master: the first member"
  fi
fi

umask 0077
{
  printf '# Written by member.sh at every start of %s: %s, then its own lines. Do not edit.\n' "$self" "$shared"
  cat "$shared"
  printf '\n# This member (member.sh)\n'
  printf 'replica-announce-ip %s\n' "$self"
  printf 'replica-announce-port 6379\n'
  printf 'requirepass %s\n' "$(quote "$password")"
  printf 'masterauth %s\n' "$(quote "$password")"
  if [ "$primary" != "$self" ]; then printf 'replicaof %s 6379\n' "$primary"; fi
} >"$conf.tmp"
mv -f "$conf.tmp" "$conf"

if [ "$primary" = "$self" ]; then
  log "primary ($from)"
else
  log "replica of $primary ($from)"
fi
cd /data
exec docker-entrypoint.sh redis-server "$conf" "$@"
