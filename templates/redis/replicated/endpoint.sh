#!/bin/sh
# endpoint.sh -- the entrypoint of the endpoint of a replicated Redis, in the official haproxy
# image (misp-gen writes it unchanged, mounts it beside haproxy.cfg and sets
# `entrypoint: ["sh", "/usr/local/etc/haproxy/endpoint.sh"]`). HAProxy cannot read a password
# from a file: this script reads REDIS_PASSWORD_FILE, puts the AUTH command of endpoint.cfg's health
# check into REDIS_AUTH (the Redis protocol's array form, so that any password goes through
# unquoted) and runs HAProxy as the official image's entrypoint does (`haproxy -W -db`).
#
# Environment (set by the renderer):
#   REDIS_PASSWORD_FILE   file holding the members' password
#   REDIS_ENDPOINT_PORT   the port the endpoint listens on (default 6379: the service's port)
#   HAPROXY_CONFIG        default /usr/local/etc/haproxy/haproxy.cfg
# Arguments given to endpoint.sh are appended to haproxy's.
set -eu
password=$(cat "${REDIS_PASSWORD_FILE:?REDIS_PASSWORD_FILE is not set}")
[ -n "$password" ] || { echo "endpoint: the password file $REDIS_PASSWORD_FILE is empty" >&2; exit 1; }
len=$(printf '%s' "$password" | LC_ALL=C wc -c | tr -d ' ')
# (a trailing x keeps the final line break from the command substitution)
# shellcheck disable=SC2016 # the $ are the protocol's length markers, not expansions
REDIS_AUTH=$(printf '*2\r\n$4\r\nAUTH\r\n$%s\r\n%s\r\nx' "$len" "$password")
REDIS_AUTH=${REDIS_AUTH%x}
REDIS_ENDPOINT_PORT=${REDIS_ENDPOINT_PORT:-6379}
export REDIS_AUTH REDIS_ENDPOINT_PORT
exec haproxy -W -db -f "${HAPROXY_CONFIG:-/usr/local/etc/haproxy/haproxy.cfg}" "$@"
