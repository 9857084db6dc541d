#!/bin/bash
# recover.sh -- the full-outage recovery command, for when the members cannot re-form by themselves
# (pc.recovery needs every member of the last Primary Component back; it cannot when one is lost,
# or when none left a safe_to_bootstrap: 1 behind). misp-gen renders this file unchanged; in compose
# it is the entrypoint of the service `database-recover` (profile `recover`), which mounts every
# member's data volume:
#
#   docker compose stop database-1 ... database-N     # the members must not be running
#   docker compose --profile recover run --rm database-recover [--force]
#   docker compose up -d
#
# It reads each member's position (grastate.dat's seqno, or `mariadbd --wsrep-recover` when the
# member crashed: seqno -1; that is the InnoDB crash recovery the member's next start would run
# anyway), elects the member with the highest seqno (ties: the one listed first in GALERA_MEMBERS),
# sets safe_to_bootstrap: 1 in its grastate.dat and 0 in every other, moves every member's
# gvwstate.dat (the old Primary Component that pc.recovery waits for) aside to
# gvwstate.dat.before-recover, and prints what it found and chose. On `up -d` the elected member
# bootstraps (member.sh) and the others join it.
#
# It refuses (exit 1, nothing changed) when a member's position cannot be known (empty or lost
# datadir, failed recovery) or when the members hold different cluster UUIDs -- unless given
# --force, which elects among the members whose position is known -- and always when a member's
# agent answers (it is running: it may be in a Primary Component). Exit 2: usage.
#
# Environment:
#   GALERA_MEMBERS      comma-separated member names, in order (database-1,...)
#   GALERA_RECOVER_DIR  where each member's data volume is mounted, as DIR/<member> (default
#                       /var/lib/galera)
#   GALERA_AGENT_PORT   port of the members' agent.pl (default 9200)
#   GALERA_BUFFER_POOL  innodb_buffer_pool_size for --wsrep-recover (default 128M)
#   GALERA_RECOVER_STOP, GALERA_RECOVER_NEXT
#                       the commands its messages name to stop the members and to start them
#                       again (default: compose's; Kubernetes: kubectl scale)
set -euo pipefail

force=0
for a; do
  case $a in
    --force) force=1 ;;
    *) echo "usage: database-recover [--force]" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a members <<<"${GALERA_MEMBERS:?GALERA_MEMBERS is not set}"
dir=${GALERA_RECOVER_DIR:-/var/lib/galera}
port=${GALERA_AGENT_PORT:-9200}
zero=00000000-0000-0000-0000-000000000000
say() { printf 'database-recover: %s\n' "$*"; }

declare -A pos=() uuid=() how=()
problems=()
for m in "${members[@]}"; do
  d=$dir/$m
  # shellcheck disable=SC2016 # expanded by the inner bash
  if timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$m" "$port" 2>/dev/null; then
    say "$m: running (its agent answers on $port): stop every member first (${GALERA_RECOVER_STOP:-docker compose stop}), even with --force"
    exit 1
  fi
  g=$d/grastate.dat
  if [ ! -d "$d/mysql" ] || [ ! -s "$g" ]; then
    say "$m: position unknown (no datadir or no grastate.dat in $d: never initialised, or lost)"
    problems+=("$m's position is unknown")
    continue
  fi
  u=$(sed -n 's/^uuid:[[:space:]]*//p' "$g")
  s=$(sed -n 's/^seqno:[[:space:]]*//p' "$g")
  if [ "${s:--1}" != -1 ] && [ "${u:-$zero}" != "$zero" ]; then
    pos[$m]=$s uuid[$m]=$u how[$m]=grastate.dat
  else
    log=$(mktemp /tmp/recover.XXXXXX)
    chown mysql: "$log" "$d"
    say "$m: grastate.dat has seqno ${s:-missing}: mariadbd --wsrep-recover"
    mariadbd --user=mysql --datadir="$d" --wsrep-recover --log-error="$log" --skip-networking \
      --wsrep_cluster_address="gcomm://$GALERA_MEMBERS" \
      --socket="/tmp/$m.sock" --pid-file="/tmp/$m.pid" \
      --innodb_buffer_pool_size="${GALERA_BUFFER_POOL:-128M}" >/dev/null 2>&1 || true
    p=$(sed -n 's/.*WSREP: Recovered position: *//p' "$log" | tail -n 1)
    rm -f "$log"
    if [ -n "$p" ] && [ "${p%%:*}" != "$zero" ] && [ "${p##*:}" != -1 ]; then
      pos[$m]=${p##*:} uuid[$m]=${p%:*} how[$m]=--wsrep-recover
    else
      say "$m: position unknown (--wsrep-recover found ${p:-nothing})"
      problems+=("$m's position is unknown")
      continue
    fi
  fi
  say "$m: ${uuid[$m]}:${pos[$m]} (from ${how[$m]})"
done

best='' cluster=''
for m in "${members[@]}"; do
  [ -n "${pos[$m]:-}" ] || continue
  if [ -z "$cluster" ]; then cluster=${uuid[$m]}; fi
  if [ "${uuid[$m]}" != "$cluster" ]; then
    say "$m holds cluster ${uuid[$m]}, not $cluster"
    problems+=("the members hold different clusters")
  fi
  if [ -z "$best" ] || [ "${pos[$m]}" -gt "${pos[$best]}" ]; then best=$m; fi
done

if [ -z "$best" ]; then
  say "no member's position is known: nothing to elect"
  exit 1
fi
if [ "${#problems[@]}" -gt 0 ]; then
  for p in "${problems[@]}"; do say "refusing: $p"; done
  if [ "$force" = 0 ]; then
    say "nothing changed. Fix the above, or run again with --force to elect among the members whose position is known"
    exit 1
  fi
  say "--force: electing among the members whose position is known"
fi

for m in "${members[@]}"; do
  g=$dir/$m/grastate.dat
  if [ -f "$dir/$m/gvwstate.dat" ]; then mv -f "$dir/$m/gvwstate.dat" "$dir/$m/gvwstate.dat.before-recover"; fi
  [ -f "$g" ] || continue
  if [ "$m" = "$best" ]; then v=1; else v=0; fi
  sed -i "s/^safe_to_bootstrap:.*/safe_to_bootstrap: $v/" "$g"
done
say "elected $best (${uuid[$best]}:${pos[$best]}, the highest seqno; ties go to the member listed first)"
say "safe_to_bootstrap: 1 set on $best only. Next: ${GALERA_RECOVER_NEXT:-docker compose up -d}"
