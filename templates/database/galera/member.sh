#!/bin/bash
# member.sh -- the command of every Galera member's container (misp-gen renders this file unchanged,
# mounts it and runs `bash member.sh`). It runs as root in the official mariadb image, starts
# agent.pl, works out this member's position and whether it must bootstrap, then execs the official
# `docker-entrypoint.sh mariadbd ARGS` (which initialises an empty datadir, steps down to user mysql
# and runs mariadbd). Extra arguments given to member.sh are appended to mariadbd's.
#
# The bootstrap rule (one member forms a new Primary Component; every other start joins):
#   - first formation: the FIRST member of GALERA_MEMBERS bootstraps when it has never been in a
#     cluster AND every peer's agent answers that it has never been in one either (fresh=1: no
#     cluster UUID in grastate.dat, no galera.cache, no gvwstate.dat). A peer that has been in a
#     cluster (fresh=0) makes it join instead: an empty member (a lost volume) never forms a cluster
#     beside members that hold data. Until every peer answers it waits up to GALERA_FORM_TIMEOUT
#     seconds, then exits non-zero (the restart policy retries). Any other member that has never
#     been in a cluster waits (as long) for a peer in a Primary Component before it starts, so
#     that it is still fresh while the first member decides.
#   - safe_to_bootstrap: 1 in grastate.dat (the last member to leave after a graceful stop of all,
#     or the one `database-recover` elected): bootstraps unless a peer reports a Primary Component.
#   - anything else joins gcomm://<every member>: a plain restart rejoins by IST; after a kill -9 of
#     every member, the members re-form by themselves from gvwstate.dat (pc.recovery) once all are
#     back. Galera refuses to bootstrap a member with safe_to_bootstrap: 0, and so does this script.
# After a crash grastate.dat says seqno: -1; the position is then recovered with
# `mariadbd --wsrep-recover` and passed as --wsrep_start_position (as Debian's galera_recovery
# does), so the member rejoins by IST from where it was instead of a full state transfer.
#
# Environment (set by the renderer):
#   GALERA_MEMBERS                comma-separated member host names, in order (database-1,...);
#                                 the first one forms the cluster the first time
#   GALERA_SELF                   this member's name in GALERA_MEMBERS (default: the member whose
#                                 first DNS label is the host name, e.g. misp-database-0 for
#                                 misp-database-0.misp-database-headless.ns.svc.cluster.local)
#   GALERA_CLUSTER_NAME           wsrep_cluster_name (default: galera)
#   GALERA_SST_METHOD             rsync (default) or mariabackup (then GALERA_SST_PASSWORD_FILE)
#   GALERA_SST_PASSWORD_FILE      password file of galera_sst@localhost (mariabackup only)
#   GALERA_BUFFER_POOL            innodb_buffer_pool_size (default 128M)
#   GALERA_AGENT_PORT             port of agent.pl (default 9200)
#   GALERA_AGENT                  path of agent.pl (default: next to this script)
#   GALERA_FORM_TIMEOUT           seconds the first member waits for its peers at first formation
#                                 (default 120)
#   GALERA_MONITOR_PASSWORD_FILE  password file of galera_monitor@localhost (agent.pl, health.sh)
#   MARIADB_ROOT_PASSWORD_FILE, MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD_FILE
#                                 the official entrypoint's, the same on every member
set -euo pipefail

datadir=/var/lib/mysql
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=${GALERA_SELF:-$HOSTNAME}
members=${GALERA_MEMBERS:?GALERA_MEMBERS is not set (e.g. database-1,database-2,database-3)}
port=${GALERA_AGENT_PORT:-9200}
IFS=, read -r -a all <<<"$members"
# Without GALERA_SELF (Kubernetes: the members are a StatefulSet's pods, listed by their DNS names
# <pod>.<headless Service>...), this member is the one whose first DNS label is the host name.
if [ -z "${GALERA_SELF:-}" ]; then
  for m in "${all[@]}"; do
    if [ "${m%%.*}" = "$HOSTNAME" ]; then self=$m; fi
  done
fi
first=${all[0]}
peers=()
for m in "${all[@]}"; do [ "$m" = "$self" ] || peers+=("$m"); done
[ "${#peers[@]}" -lt "${#all[@]}" ] || { echo "member: GALERA_SELF=$self is not in GALERA_MEMBERS=$members" >&2; exit 1; }

log() { printf '%s [Note] [galera member %s]: %s\n' "$(date --rfc-3339=seconds)" "$self" "$*"; }

# The agent, restarted should it ever exit; it lives as long as the container.
agent=${GALERA_AGENT:-$here/agent.pl}
(while :; do perl "$agent" || true; sleep 1; done) </dev/null &

# The line a peer's agent answers, or nothing.
peer_state() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r -t 1 l <&3 && printf "%s\n" "$l"' \
    "$1" "$port" 2>/dev/null || true
}
primary_peer() {
  local p
  for p in "${peers[@]}"; do
    case $(peer_state "$p") in *status=Primary*) printf '%s\n' "$p"; return 0 ;; esac
  done
  return 1
}

args=(
  --wsrep_cluster_name="${GALERA_CLUSTER_NAME:-galera}"
  --wsrep_node_name="$self"
  --wsrep_sst_method="${GALERA_SST_METHOD:-rsync}"
  --innodb_buffer_pool_size="${GALERA_BUFFER_POOL:-128M}"
)
if [ "${GALERA_SST_METHOD:-rsync}" = mariabackup ]; then
  # The donor-side credentials, in a file rather than on the command line.
  printf '[mariadbd]\nwsrep_sst_auth = galera_sst:%s\n' "$(<"${GALERA_SST_PASSWORD_FILE:?}")" \
    >/etc/mysql/mariadb.conf.d/90-galera-sst.cnf
  chmod 0640 /etc/mysql/mariadb.conf.d/90-galera-sst.cnf
  chgrp mysql /etc/mysql/mariadb.conf.d/90-galera-sst.cnf
fi

grastate=$datadir/grastate.dat
uuid=$(sed -n 's/^uuid:[[:space:]]*//p' "$grastate" 2>/dev/null || true)
seqno=$(sed -n 's/^seqno:[[:space:]]*//p' "$grastate" 2>/dev/null || true)
safe=$(sed -n 's/^safe_to_bootstrap:[[:space:]]*//p' "$grastate" 2>/dev/null || true)
fresh=0
case ${uuid:-0} in 0 | 00000000-0000-0000-0000-000000000000) fresh=1 ;; esac
# galera.cache / gvwstate.dat: the provider ran here, whatever grastate.dat says (agent.pl agrees).
if [ -e "$datadir/galera.cache" ] || [ -e "$datadir/gvwstate.dat" ]; then fresh=0; fi

bootstrap=0
if [ "$fresh" = 1 ]; then
  if [ "$self" = "$first" ]; then
    log "never in a cluster: waiting for every peer's agent (${peers[*]}) to decide on forming one"
    deadline=$((SECONDS + ${GALERA_FORM_TIMEOUT:-120}))
    while :; do
      answered=0 held=''
      for p in "${peers[@]}"; do
        line=$(peer_state "$p")
        [ -n "$line" ] || continue
        answered=$((answered + 1))
        case $line in *fresh=0*) held="$held $p" ;; esac
      done
      if [ -n "$held" ]; then
        log "peer(s)$held have been in a cluster: joining it, never forming a new one from an empty member"
        break
      fi
      if [ "$answered" = "${#peers[@]}" ]; then
        log "every member is new: forming the cluster (first formation, --wsrep-new-cluster)"
        bootstrap=1
        break
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "only $answered of ${#peers[@]} peers answered within ${GALERA_FORM_TIMEOUT:-120}s: not forming a cluster" >&2
        exit 1
      fi
      sleep 1
    done
  else
    # Not started before a Primary Component exists: the first member decides on forming one
    # from its peers' files, so a new member must not start its provider before that.
    log "never in a cluster: waiting for a peer in a Primary Component to join"
    deadline=$((SECONDS + ${GALERA_FORM_TIMEOUT:-120}))
    until p=$(primary_peer); do
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "no peer in a Primary Component within ${GALERA_FORM_TIMEOUT:-120}s: not starting" >&2
        exit 1
      fi
      sleep 1
    done
    log "$p is in a Primary Component: joining"
  fi
else
  if [ "$seqno" = -1 ] || [ -z "$seqno" ]; then
    log "grastate.dat has no position (seqno ${seqno:-missing}): mariadbd --wsrep-recover"
    rlog=$(mktemp /tmp/wsrep-recover.XXXXXX)
    chown mysql: "$rlog"
    mariadbd --user=mysql --wsrep-recover --log-error="$rlog" --skip-networking \
      --wsrep_cluster_address="gcomm://$members" --wsrep_sst_method="${GALERA_SST_METHOD:-rsync}" \
      --socket=/tmp/wsrep-recover.sock --pid-file=/tmp/wsrep-recover.pid \
      --innodb_buffer_pool_size="${GALERA_BUFFER_POOL:-128M}" >/dev/null 2>&1 || true
    pos=$(sed -n 's/.*WSREP: Recovered position: *//p' "$rlog" | tail -n 1)
    rm -f "$rlog"
    if [ -n "$pos" ] && [ "${pos%%:*}" != 00000000-0000-0000-0000-000000000000 ]; then
      log "recovered position $pos"
      args+=(--wsrep_start_position="$pos")
    else
      log "no position recovered: the member will ask for a full state transfer"
    fi
  else
    log "position $uuid:$seqno from grastate.dat"
  fi
  if [ "$safe" = 1 ]; then
    # Peers that are starting too get a few seconds for their agents to answer.
    p=''
    for _ in 1 2 3 4 5; do
      if p=$(primary_peer); then break; fi
      sleep 1
    done
    if [ -n "$p" ]; then
      log "safe_to_bootstrap: 1, but $p is in a Primary Component: joining it"
    else
      log "safe_to_bootstrap: 1 and no peer in a Primary Component: bootstrapping (--wsrep-new-cluster)"
      bootstrap=1
    fi
  fi
fi

# Peers whose names resolve (a stopped container has none): Galera learns the others from them.
addr=()
for m in "${all[@]}"; do
  if [ "$m" = "$self" ] || getent hosts "$m" >/dev/null; then addr+=("$m"); fi
done
[ "${#addr[@]}" -gt 1 ] || addr=("${all[@]}")
args+=(--wsrep_cluster_address="gcomm://$(IFS=,; printf '%s' "${addr[*]}")")
if [ "$bootstrap" = 1 ]; then args+=(--wsrep-new-cluster); fi

log "docker-entrypoint.sh mariadbd ${args[*]} $*"
exec docker-entrypoint.sh mariadbd "${args[@]}" "$@"
