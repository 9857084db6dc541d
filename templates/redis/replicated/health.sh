#!/bin/sh
# health.sh -- the health check of a member or a Sentinel of a replicated Redis (misp-gen writes it
# unchanged and mounts it beside member.sh; compose healthcheck
# `["CMD", "sh", "/usr/local/etc/redis/health.sh", "member"]`, or `sentinel`).
#   member     answers PING (not loading its data), and a replica has its link to the primary up
#              (a replica still copying the dataset is not ready: a rolling change must wait)
#   sentinel   answers PING and knows a primary under REDIS_MASTER_NAME
# Environment: REDIS_PASSWORD_FILE, REDIS_MASTER_NAME (default redis), as member.sh/sentinel.sh.
set -eu
REDISCLI_AUTH=$(cat "${REDIS_PASSWORD_FILE:?REDIS_PASSWORD_FILE is not set}")
export REDISCLI_AUTH
case ${1:-} in
  member)
    [ "$(timeout 3 redis-cli -p 6379 --raw PING)" = PONG ] || exit 1
    info=$(timeout 3 redis-cli -p 6379 --raw INFO replication | tr -d '\r')
    case $info in
      *role:master*) exit 0 ;;
      *master_link_status:up*) exit 0 ;;
      *) echo "replica not linked to its primary" >&2; exit 1 ;;
    esac ;;
  sentinel)
    [ "$(timeout 3 redis-cli -p 26379 --raw PING)" = PONG ] || exit 1
    [ -n "$(timeout 3 redis-cli -p 26379 --raw SENTINEL get-master-addr-by-name "${REDIS_MASTER_NAME:-redis}" | head -n 1)" ] ;;
  *) echo "usage: health.sh member|sentinel" >&2; exit 2 ;;
esac
