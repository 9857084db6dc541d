#!/usr/bin/env bash
# tests/e2e/galera.sh -- a MariaDB Galera cluster of three members on the Docker Engine, under
# faults, proving that no acknowledged write is lost.
#
# Usage: bash tests/e2e/galera.sh        (needs the images of tests/e2e/build-images.sh, the
#                                          Compose v5 binary of .ci/tools.sh: target/ci-tools/venv/bin,
#                                          and misp-gen built: MISP_GEN_BIN, default target/debug/misp-gen)
#
# It renders tests/e2e/galera/spec.yaml with `misp-gen render SPEC --target compose` into a scratch
# directory (compose/compose.yaml, compose/files/galera/ = templates/database/galera/* with
# endpoint.cfg's server lines, secrets/ generated) and runs that. A writer client in a container on
# the project network inserts rows through the endpoint `database` and logs each id only once its
# COMMIT was acknowledged. The faults, each followed by the checks:
#   1. form the cluster (`up -d`): time to three Synced members; the endpoint's own health check
#      (what `depends_on: { database: healthy }` waits for) passes;
#   2. kill -9 a standby member, `up -d`: it rejoins;
#   3. kill -9 the member the endpoint writes to, `up -d`: the longest gap between acknowledged
#      writes (goal <= 15 s);
#   4. kill -9 every member at once, `up -d`: the cluster re-forms by itself (pc.recovery), timed;
#      then a graceful stop of every member one by one: the last one bootstraps by itself on `up -d`;
#   5. kill -9 every member and lose database-1's volume (a disk lost in the same outage):
#      pc.recovery cannot re-form (it waits for the lost member) and the empty database-1 must not
#      form a cluster of its own, and the endpoint's health check fails; the documented procedure
#      then recovers it: stop the members,
#      `run --rm database-recover` (refuses: database-1's position is unknown), again with --force
#      (elects the most advanced member), `up -d`.
# The checks after each: every acknowledged id is on every member (each queried directly), the
# members agree (row count and CHECKSUM TABLE), all three are Synced (and health.sh live passes),
# no member bootstrapped except at the first formation, the last to leave a graceful stop and the
# member the recover command elected; a restarted member rejoins by IST from its recovered position.
# Every container, network and volume it makes is removed on exit, failure included. Every wait is
# bounded and says what it waited for when it gives up. Last line: `galera: N passed, M failed`.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PATH=$repo/target/ci-tools/venv/bin:$PATH
project=mg-galera-e2e
net=${project}_default
image=docker.io/library/mariadb:10.11
members=(database-1 database-2 database-3)
writer=$project-writer
work=$(mktemp -d /tmp/mg-galera.XXXXXX)
bin=${MISP_GEN_BIN:-$repo/target/debug/misp-gen}
passed=0 failed=0
t_form='-' gap_writer='-' t_outage='-' t_recover='-'

log() { printf 'galera: %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
dc() { docker-compose -f "$work/out/compose/compose.yaml" "$@"; }
ctr() { printf '%s-%s-1' "$project" "$1"; }
now_ms() { date +%s%3N; }

cleanup() {
  local rc=$?
  set +e
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    # The whole logs are kept for a look; the last lines are shown.
    mkdir -p "$repo/target/e2e-galera-logs"
    for m in "${members[@]}" database; do
      docker logs -t "$(ctr "$m")" >"$repo/target/e2e-galera-logs/$m.log" 2>&1
      printf -- '--- last log lines of %s (all: target/e2e-galera-logs/%s.log)\n' "$m" "$m"
      tail -n 15 "$repo/target/e2e-galera-logs/$m.log" | cut -c1-240
    done
    cp "$work/log/acked" "$repo/target/e2e-galera-logs/acked" 2>/dev/null
    [ -s "$work/log/errors" ] && { echo '--- writer errors (last 5)'; tail -n 5 "$work/log/errors"; }
  fi
  docker rm -f "$writer" >/dev/null 2>&1
  dc --profile recover down -v --remove-orphans --timeout 5 >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that an interrupted run cleans up too

[ -x "$bin" ] || { log "$bin is not built (cargo build)"; exit 1; }
for c in docker docker-compose; do
  command -v "$c" >/dev/null || { log "$c is missing (source .ci/tools.sh; misp_gen_tools_install)"; exit 1; }
done
for i in "$image" docker.io/library/haproxy:3.0.5; do
  docker image inspect "$i" >/dev/null 2>&1 || { log "$i is missing: bash tests/e2e/build-images.sh docker"; exit 1; }
done

# ------------------------------------------------------------------ render
mkdir -p "$work/log"
"$bin" render "$here/galera/spec.yaml" --target compose --out "$work/out" >"$work/render.log" 2>&1 \
  || { cat "$work/render.log"; log "misp-gen render failed"; exit 1; }
sst=$(sed -n 's/^ *"GALERA_SST_METHOD": "\(.*\)"$/\1/p' "$work/out/compose/compose.yaml" | sort -u)
secrets=$work/out/secrets
root_pw=$(<"$secrets/database_root_password")
app_pw=$(<"$secrets/database_password")

# ------------------------------------------------------------------ helpers

# SQL on one member, as root over its socket.
msql() {
  local m=$1
  shift
  docker exec -e MYSQL_PWD="$root_pw" "$(ctr "$m")" timeout 20 mariadb -uroot -N -B "$@" 2>&1
}
is_ready() { docker exec "$(ctr "$1")" bash /etc/galera/health.sh ready >/dev/null 2>&1; }
agent_line() {
  docker exec "$(ctr "$1")" timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9200; IFS= read -r l <&3; printf "%s\n" "$l"' 2>/dev/null || echo '(no answer)'
}
# wait_synced LIMIT: every member Primary and Synced, or a report of each one's state.
wait_synced() {
  local limit=$1 deadline=$((SECONDS + $1)) n m
  while :; do
    n=0
    for m in "${members[@]}"; do is_ready "$m" && n=$((n + 1)); done
    [ "$n" = "${#members[@]}" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "gave up after ${limit}s waiting for ${#members[@]} members Primary+Synced ($n are):"
      for m in "${members[@]}"; do printf '  %s: %s\n' "$m" "$(agent_line "$m")"; done
      return 1
    fi
    sleep 1
  done
}
# The member the endpoint sends connections to.
writer_member() {
  docker exec -e MYSQL_PWD="$app_pw" "$writer" timeout 5 mariadb -h database -umisp -N -B misp \
    -e 'SELECT @@wsrep_node_name' 2>/dev/null || true
}
# The writer endpoint's own health check, as compose runs it (what services that wait for
# `database: healthy` wait for): the command of its rendered healthcheck, run in the container.
endpoint_check() {
  local cmd
  cmd=$(docker inspect -f '{{index .Config.Healthcheck.Test 3}}' "$(ctr database)") || return 1
  docker exec "$(ctr database)" bash -c "$cmd" >/dev/null 2>&1
}
acked_count() { [ -s "$work/log/acked" ] && wc -l <"$work/log/acked" || echo 0; }
# wait_acked N LIMIT: N more acknowledged writes than now.
wait_acked() {
  local want=$(($(acked_count) + $1)) deadline=$((SECONDS + $2))
  until [ "$(acked_count)" -ge "$want" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "gave up after $2s waiting for $1 more acknowledged writes (at $(acked_count))"
      return 1
    fi
    sleep 0.5
  done
}
pause_writer() {
  touch "$work/log/pause"
  local deadline=$((SECONDS + 20))
  until [ -e "$work/log/paused" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { log "gave up after 20s waiting for the writer to pause"; return 1; }
    sleep 0.2
  done
}
resume_writer() { rm -f "$work/log/pause"; }
# bootstraps SINCE: the member.sh decisions to form a cluster in the members' logs since SINCE.
bootstraps() {
  local m
  for m in "${members[@]}"; do
    docker logs --since "$1" "$(ctr "$m")" 2>&1 \
      | grep -E 'galera member .*(forming the cluster|bootstrapping \(--wsrep-new-cluster\))' \
      | sed "s/^/$m: /" || true
  done
}

# rejoined_by_ist STEP MEMBER SINCE: the member started from its recovered position and caught up
# by incremental state transfer, not a full copy.
rejoined_by_ist() {
  local l
  l=$(docker logs --since "$3" "$(ctr "$2")" 2>&1)
  if grep -q 'recovered position' <<<"$l" && grep -q 'IST received' <<<"$l" \
    && ! grep -q 'SST completed on joiner' <<<"$l"; then
    ok "$1: $2 rejoined from its recovered position by IST (no full state transfer)"
  else
    bad "$1: $2 rejoined from its recovered position by IST (no full state transfer)"
  fi
}

# verify STEP SINCE EXPECTED_BOOTSTRAPS: the checks after each step.
verify() {
  local step=$1 since=$2 want=$3 m n missing counts='' sums='' b
  if ! wait_synced 120; then bad "$step: every member Synced"; return; fi
  ok "$step: every member Primary and Synced"
  for m in "${members[@]}"; do
    docker exec "$(ctr "$m")" bash /etc/galera/health.sh live >/dev/null 2>&1 \
      || bad "$step: health.sh live passes on $m"
  done
  if ! pause_writer; then bad "$step: the writer pauses for the checks"; return; fi
  sort -n -k1,1 "$work/log/acked" | cut -d' ' -f1 >"$work/acked.ids"
  n=$(wc -l <"$work/acked.ids")
  for m in "${members[@]}"; do
    { msql "$m" -e 'SET SESSION wsrep_sync_wait = 15; SELECT id FROM misp.acked ORDER BY id' || true; } \
      | sort -n >"$work/$m.ids"
    missing=$(comm -23 <(sort "$work/acked.ids") <(sort "$work/$m.ids") | wc -l)
    if [ "$missing" = 0 ]; then
      ok "$step: all $n acknowledged ids on $m"
    else
      bad "$step: $missing of $n acknowledged ids missing on $m (first: $(comm -23 <(sort "$work/acked.ids") <(sort "$work/$m.ids") | sort -n | head -3 | tr '\n' ' '))"
      comm -23 <(sort "$work/acked.ids") <(sort "$work/$m.ids") >>"$work/lost.ids"
    fi
  done
  # A commit whose acknowledgement the client never saw may land a moment later: a few tries.
  for _ in 1 2 3 4 5; do
    counts='' sums=''
    for m in "${members[@]}"; do
      counts+="$(msql "$m" -e 'SET SESSION wsrep_sync_wait = 15; SELECT COUNT(*) FROM misp.acked' | tr -d ' \n' || true) "
      sums+="$(msql "$m" -e 'SET SESSION wsrep_sync_wait = 15; CHECKSUM TABLE misp.acked' | cut -f2 | tr -d ' \n' || true) "
    done
    [ "$(tr ' ' '\n' <<<"$counts" | sort -u | grep -c .)" = 1 ] \
      && [ "$(tr ' ' '\n' <<<"$sums" | sort -u | grep -c .)" = 1 ] && break
    sleep 1
  done
  if [ "$(tr ' ' '\n' <<<"$counts" | sort -u | grep -c .)" = 1 ] \
    && [ "$(tr ' ' '\n' <<<"$sums" | sort -u | grep -c .)" = 1 ]; then
    ok "$step: members agree (rows ${counts%% *}, checksum ${sums%% *})"
  else
    bad "$step: members disagree (rows: $counts; checksums: $sums)"
  fi
  b=$(bootstraps "$since")
  if [ "$(grep -c . <<<"$b")" = "$want" ]; then
    ok "$step: $want bootstrap(s)${b:+ (by $(cut -d: -f1 <<<"$b" | tr '\n' ' '| sed 's/ $//'))}"
  else
    bad "$step: expected $want bootstrap(s), saw: ${b:-none}"
  fi
  resume_writer
}

# ------------------------------------------------------------------ 1. form
log "work dir $work (state transfers: $sst)"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t0=$SECONDS
dc up -d --quiet-pull 2>&1 | grep -vE '^ *(Container|Network|Volume) .* (Creat|Start|Runn)' || true
if wait_synced 180; then
  t_form=$((SECONDS - t0))
  ok "form: three members Primary and Synced in ${t_form}s"
else
  bad "form: three members Primary and Synced"
  exit 1
fi
if endpoint_check; then
  ok "form: the endpoint's health check passes (a member is Primary and Synced)"
else
  bad "form: the endpoint's health check passes (a member is Primary and Synced)"
fi
msql database-1 -e 'CREATE TABLE misp.acked (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)' >/dev/null
chmod 0777 "$work/log"
# The writer: one INSERT per client run (autocommit); an id is logged only when the client exits 0,
# that is once the server acknowledged its COMMIT.
docker run -d --name "$writer" --network "$net" -v "$work/log:/log" -e MYSQL_PWD="$app_pw" \
  --entrypoint bash "$image" -c '
    i=1
    while :; do
      if [ -e /log/pause ]; then touch /log/paused; sleep 0.2; continue; fi
      rm -f /log/paused
      if timeout 10 mariadb -h database -umisp --connect-timeout=2 misp \
        -e "INSERT INTO acked (id, at) VALUES ($i, NOW(6))" 2>>/log/errors; then
        echo "$i $(date +%s%3N)" >>/log/acked
      fi
      i=$((i + 1))
    done' >/dev/null
wait_acked 30 60 || bad "form: the writer's first 30 acknowledged writes"
verify form "$since" 1

# ------------------------------------------------------------------ 2. kill -9 a standby member
w=$(writer_member)
standby=database-3
[ "$w" != database-3 ] || standby=database-2
log "the endpoint writes to ${w:-?}; kill -9 standby $standby"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
docker kill -s KILL "$(ctr "$standby")" >/dev/null
wait_acked 20 40 || bad "standby: writes go on while $standby is down"
dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true
verify standby "$since" 0
rejoined_by_ist standby "$standby" "$since"

# ------------------------------------------------------------------ 3. kill -9 the writer
w=$(writer_member)
if [ -z "$w" ]; then bad "writer: the endpoint answers"; w=database-1; fi
log "kill -9 the member the endpoint writes to: $w"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k=$(now_ms)
docker kill -s KILL "$(ctr "$w")" >/dev/null
wait_acked 20 60 || bad "writer: writes resume after $w is killed"
nw=$(writer_member)
dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true
# The longest gap between consecutive acknowledged writes around the kill.
gap_writer=$(sort -n -k2,2 "$work/log/acked" | awk -v k="$k" '
  { if (prev != "" && $2 >= k - 2000 && $2 - prev > g) g = $2 - prev; prev = $2 }
  END { printf "%.1f", g / 1000 }')
if awk -v g="$gap_writer" 'BEGIN { exit !(g <= 15) }'; then
  ok "writer: longest gap between acknowledged writes ${gap_writer}s (<= 15 s); the endpoint moved to ${nw:-?}"
else
  bad "writer: longest gap between acknowledged writes ${gap_writer}s (> 15 s)"
fi
verify writer "$since" 0
rejoined_by_ist writer "$w" "$since"

# ------------------------------------------------------------------ 4. kill -9 every member
log "kill -9 every member at once"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
docker kill -s KILL "$(ctr database-1)" "$(ctr database-2)" "$(ctr database-3)" >/dev/null
sleep 2
t0=$SECONDS
dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true
if wait_synced 120; then
  t_outage=$((SECONDS - t0))
  ok "outage: the cluster re-formed by itself after up -d in ${t_outage}s"
fi
wait_acked 20 60 || bad "outage: writes resume"
verify outage "$since" 0

# ------------------------------------------------------------------ 4b. graceful stop of every member
# One by one, database-1 last: it leaves safe_to_bootstrap: 1 behind, and member.sh bootstraps it
# on `up -d` (no peer is in a Primary Component) while the others join it.
log "stop every member gracefully, one by one (database-3, database-2, database-1)"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for m in database-3 database-2 database-1; do dc stop --timeout 30 "$m" >/dev/null 2>&1; done
t0=$SECONDS
dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true
if wait_synced 120; then
  ok "graceful: the cluster re-formed by itself after up -d in $((SECONDS - t0))s"
fi
wait_acked 20 60 || bad "graceful: writes resume"
verify graceful "$since" 1
b=$(bootstraps "$since")
if grep -q '^database-1: .*safe_to_bootstrap: 1' <<<"$b"; then
  ok "graceful: database-1, the last to leave (safe_to_bootstrap: 1), bootstrapped"
else
  bad "graceful: database-1, the last to leave (safe_to_bootstrap: 1), bootstrapped"
fi

# ------------------------------------------------------------------ 5. an outage Galera cannot re-form from
log "kill -9 every member and lose database-1's volume"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
docker kill -s KILL "$(ctr database-1)" "$(ctr database-2)" "$(ctr database-3)" >/dev/null
dc rm -f database-1 >/dev/null 2>&1
docker volume rm "${project}_database-1-data" >/dev/null
dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true
# It must stay down: no Primary Component from two members waiting for the third, and never one
# formed by the empty database-1.
sleep 25
primary=''
for m in "${members[@]}"; do
  case $(agent_line "$m") in *status=Primary*) primary+=" $m" ;; esac
done
if [ -z "$primary" ]; then
  ok "lost volume: no member in a Primary Component after 25 s (pc.recovery waits for the lost member)"
else
  bad "lost volume: Primary Component on$primary without the recover command"
fi
if endpoint_check; then
  bad "lost volume: the endpoint's health check fails while no member is Primary"
else
  ok "lost volume: the endpoint's health check fails while no member is Primary"
fi
# (The logs are read whole before grep: `grep -q` in a pipe would cut the writer short, and
# pipefail would turn a match into a failure.)
l=$(docker logs --since "$since" "$(ctr database-1)" 2>&1)
if grep -q 'joining it, never forming a new one' <<<"$l"; then
  ok "lost volume: the empty database-1 joins, it does not form a cluster"
else
  bad "lost volume: the empty database-1 joins, it does not form a cluster"
fi
t0=$SECONDS
dc stop --timeout 10 "${members[@]}" >/dev/null 2>&1
rc=0
dc --profile recover run --rm database-recover >"$work/recover1.out" 2>&1 || rc=$?
sed 's/^/  | /' "$work/recover1.out"
if [ "$rc" = 1 ] && grep -q 'database-1: position unknown' "$work/recover1.out"; then
  ok "recover: refuses (exit 1) while database-1's position is unknown"
else
  bad "recover: refuses while database-1's position is unknown (exit $rc)"
fi
rc=0
dc --profile recover run --rm database-recover --force >"$work/recover2.out" 2>&1 || rc=$?
sed 's/^/  | /' "$work/recover2.out"
elected=$(sed -n 's/^database-recover: elected \([^ ]*\) .*/\1/p' "$work/recover2.out")
if [ "$rc" = 0 ] && [ -n "$elected" ]; then
  ok "recover: --force elects $elected"
else
  bad "recover: --force elects a member (exit $rc)"
fi
dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true
if wait_synced 180; then
  t_recover=$((SECONDS - t0))
  ok "recover: three members Synced ${t_recover}s after the stop (database-1 by a full state transfer)"
fi
b=$(bootstraps "$since")
if [ -n "$elected" ] && grep -q "^$elected: " <<<"$b"; then
  ok "recover: the elected $elected is the one that bootstrapped"
else
  bad "recover: the elected ${elected:-?} is the one that bootstrapped (saw: ${b:-none})"
fi
wait_acked 20 60 || bad "recover: writes resume"
verify recover "$since" 1

# ------------------------------------------------------------------ summary
pause_writer || true
acked=$(acked_count)
lost=$(sort -u "$work/lost.ids" 2>/dev/null | grep -c . || true)
cat <<EOF
---------------------------------------------------------------- galera figures
time to form (up -d to 3 Synced)          ${t_form} s
longest write gap, writer killed          ${gap_writer} s   (goal <= 15 s)
full outage, up -d to 3 Synced            ${t_outage} s   (pc.recovery, no command)
lost volume, stop+recover+up to 3 Synced  ${t_recover} s
rows acknowledged                         ${acked}
rows lost (acknowledged, missing)         ${lost}
---------------------------------------------------------------------------------
EOF
[ "$lost" = 0 ] || failed=$((failed + 1))
echo "galera: $passed passed, $failed failed"
[ "$failed" = 0 ]
