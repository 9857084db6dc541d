#!/usr/bin/env bash
# tests/e2e/redis.sh -- a replicated Redis (three members, three Sentinels, the endpoint) on the
# Docker Engine, under faults, proving that no write acknowledged and replicated is lost.
#
# Usage: bash tests/e2e/redis.sh         (needs the images of tests/e2e/build-images.sh -- redis:7.0
#                                          and haproxy:3.0.5 -- and the Compose v5 binary of
#                                          .ci/tools.sh: target/ci-tools/venv/bin; and misp-gen
#                                          built: MISP_GEN_BIN, default target/debug/misp-gen)
#        MG_REDIS_KEEP=DIR bash tests/e2e/redis.sh    (the writer's logs -- acked, errors -- and
#                                          every container's log are copied to DIR at the end)
#
# It renders tests/e2e/redis/spec.yaml with `misp-gen render SPEC --target compose` into a scratch
# directory (compose/compose.yaml, compose/files/redis-replicated/redis/ = templates/redis/replicated/*
# with endpoint.cfg's server lines) and runs that, with secrets/redis_password written beforehand
# (misp-gen keeps it) as a fresh random password with a space, quotes, a dollar and a backslash: it
# must go through every config as it is. A writer client in a container on the project network sends, through the
# endpoint `redis`, `SET ack:N N` then `WAIT 1 1000`, one connection each, and logs N only when the
# SET answered OK and WAIT says at least one replica has it. The faults, each followed by checks:
#   1. start (`up -d`): one primary (redis-1), two linked replicas, the Sentinels agree, timed;
#   2. kill -9 the primary: the Sentinels promote a replica, the endpoint reaches it, writes resume:
#      the failover time (kill to the Sentinels' +switch-master), the time to the first write
#      acknowledged after the kill and the longest gap between acknowledged writes (goal <= 15 s);
#      every acknowledged key is there through the endpoint;
#   3. `up -d` brings the old primary back: it starts as a replica of the promoted one (never a
#      second primary) and catches up (every acknowledged key on it);
#   4. kill -9 a replica: writes go on (one replica left); `up -d`: it rejoins;
#   5. kill -9 a Sentinel: writes go on, and the two left fail the primary over once more (kill -9);
#      `up -d` brings both back, the Sentinel learns the new primary;
#   6. kill -9 every member and every Sentinel at once, `up -d`: the same primary comes back with
#      its data, the others follow it, timed.
# After each: exactly one primary, every other member linked to it, every Sentinel naming it, the
# endpoint on it, every acknowledged key there; at the end every acknowledged key on every member.
# Every container, network and volume it makes is removed on exit, failure included. Every wait is
# bounded and says what it waited for when it gives up. Last line: `redis: N passed, M failed`.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PATH=$repo/target/ci-tools/venv/bin:$PATH
project=mg-redis-e2e
net=${project}_default
image=docker.io/library/redis:7.0
members=(redis-1 redis-2 redis-3)
sentinels=(redis-sentinel-1 redis-sentinel-2 redis-sentinel-3)
writer=$project-writer
work=$(mktemp -d /tmp/mg-redis.XXXXXX)
passed=0 failed=0
t_form='-' t_switch='-' t_back='-' gap='-' t_rejoin='-' gap_replica='-' t_switch2='-' gap2='-' t_outage='-'

log() { printf 'redis: %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
bin=${MISP_GEN_BIN:-$repo/target/debug/misp-gen}
dc() { docker-compose -f "$work/out/compose/compose.yaml" "$@"; }
ctr() { printf '%s-%s-1' "$project" "$1"; }
now_ms() { date +%s%3N; }
up() { dc up -d 2>&1 | grep -vE '^ *(Container|Network|Volume) ' || true; }

cleanup() {
  local rc=$?
  set +e
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    mkdir -p "$repo/target/e2e-redis-logs"
    for m in "${members[@]}" "${sentinels[@]}" redis; do
      docker logs -t "$(ctr "$m")" >"$repo/target/e2e-redis-logs/$m.log" 2>&1
      printf -- '--- last log lines of %s (all: target/e2e-redis-logs/%s.log)\n' "$m" "$m"
      tail -n 12 "$repo/target/e2e-redis-logs/$m.log" | cut -c1-240
    done
    cp "$work/log/acked" "$repo/target/e2e-redis-logs/acked" 2>/dev/null
    [ -s "$work/log/errors" ] && { echo '--- writer errors (last 5)'; tail -n 5 "$work/log/errors"; }
  fi
  if [ -n "${MG_REDIS_KEEP:-}" ]; then
    cp -r "$work/log" "$MG_REDIS_KEEP"
    for m in "${members[@]}" "${sentinels[@]}" redis; do docker logs -t "$(ctr "$m")" >"$MG_REDIS_KEEP/$m.log" 2>&1; done
  fi
  docker rm -f -v "$writer" >/dev/null 2>&1
  [ -f "$work/out/compose/compose.yaml" ] && dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for c in docker docker-compose; do
  command -v "$c" >/dev/null || { log "$c is missing (source .ci/tools.sh; misp_gen_tools_install)"; exit 1; }
done
for i in "$image" docker.io/library/haproxy:3.0.5; do
  docker image inspect "$i" >/dev/null 2>&1 || { log "$i is missing: bash tests/e2e/build-images.sh docker"; exit 1; }
done

[ -x "$bin" ] || { log "$bin is not built (cargo build)"; exit 1; }

# ------------------------------------------------------------------ render
mkdir -p "$work/out/secrets" "$work/log"
pw="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9') \"q\" \$x\\"
# Kept by misp-gen as an existing secret; it mounts a readable copy (the start scripts read it as
# root, HAProxy as user haproxy).
(umask 077; printf '%s' "$pw" >"$work/out/secrets/redis_password")
"$bin" render "$here/redis/spec.yaml" --target compose --out "$work/out" >"$work/render.log" 2>&1 \
  || { cat "$work/render.log"; log "misp-gen render failed"; exit 1; }
[ "$(cat "$work/out/secrets/compose/mounted/redis_password")" = "$pw" ] \
  || { log "the rendered password is not the one written"; exit 1; }
for s in "${members[@]}" "${sentinels[@]}" redis; do
  grep -q "^  \"$s\":\$" "$work/out/compose/compose.yaml" || { log "service $s is not rendered"; exit 1; }
done

# ------------------------------------------------------------------ helpers

# redis-cli in a member (port 6379) or a Sentinel (26379), as the container's root.
mcli() { local m=$1; shift; docker exec -e REDISCLI_AUTH="$pw" "$(ctr "$m")" timeout 5 redis-cli --raw -p 6379 "$@" 2>/dev/null | tr -d '\r'; }
scli() { local s=$1; shift; docker exec -e REDISCLI_AUTH="$pw" "$(ctr "$s")" timeout 5 redis-cli --raw -p 26379 "$@" 2>/dev/null | tr -d '\r'; }
# redis-cli through the endpoint, from the writer's container.
ecli() { docker exec -e REDISCLI_AUTH="$pw" "$writer" timeout 5 redis-cli --raw -h redis "$@" 2>/dev/null | tr -d '\r'; }
running() { [ "$(docker inspect -f '{{.State.Running}}' "$(ctr "$1")" 2>/dev/null)" = true ]; }
role() { mcli "$1" ROLE | head -n 1 || true; }
info() { mcli "$1" INFO replication | sed -n "s/^$2://p" || true; }
# The member behind the endpoint (the name it announces).
endpoint_member() { ecli CONFIG GET replica-announce-ip | sed -n 2p || true; }

# state: one line describing every member and Sentinel, for the reports.
state() {
  local m s out=''
  for m in "${members[@]}"; do
    if running "$m"; then
      out+="$m=$(role "$m")$( [ "$(role "$m")" = slave ] && printf '(%s,%s)' "$(info "$m" master_host)" "$(info "$m" master_link_status)") "
    else out+="$m=down "; fi
  done
  for s in "${sentinels[@]}"; do
    if running "$s"; then out+="$s=$(scli "$s" SENTINEL get-master-addr-by-name redis | head -n 1) "
    else out+="$s=down "; fi
  done
  printf '%s\n' "$out"
}

# settled: exactly one running member is primary; every other running member is its replica with
# the link up; every running Sentinel names it and knows those replicas (up) and the other running
# Sentinels; the endpoint reaches it. Prints the primary.
settled() {
  local m s p='' n=0 nsent ok_replicas
  for m in "${members[@]}"; do
    running "$m" || continue
    if [ "$(role "$m")" = master ]; then p=$m; n=$((n + 1)); fi
  done
  [ "$n" = 1 ] || return 1
  for m in "${members[@]}"; do
    if [ "$m" = "$p" ] || ! running "$m"; then continue; fi
    [ "$(role "$m")" = slave ] && [ "$(info "$m" master_host)" = "$p" ] \
      && [ "$(info "$m" master_link_status)" = up ] || return 1
  done
  nsent=0
  for s in "${sentinels[@]}"; do running "$s" && nsent=$((nsent + 1)); done
  for s in "${sentinels[@]}"; do
    running "$s" || continue
    [ "$(scli "$s" SENTINEL get-master-addr-by-name redis | head -n 1)" = "$p" ] || return 1
    # It knows every running replica, up, and the other running Sentinels: ready to fail over.
    ok_replicas=$(scli "$s" SENTINEL replicas redis | awk '
      prev == "ip" { ip = $0 } prev == "flags" { if ($0 !~ /s_down|o_down|disconnected/) print ip } { prev = $0 }')
    for m in "${members[@]}"; do
      if [ "$m" = "$p" ] || ! running "$m"; then continue; fi
      grep -qx "$m" <<<"$ok_replicas" || return 1
    done
    [ "$(scli "$s" SENTINEL master redis | awk 'prev == "num-other-sentinels" { print; exit } { prev = $0 }')" -ge $((nsent - 1)) ] || return 1
  done
  [ "$(endpoint_member)" = "$p" ] || return 1
  printf '%s\n' "$p"
}
# wait_settled LIMIT: settled within LIMIT seconds (prints the primary), or a report.
wait_settled() {
  local deadline=$((SECONDS + $1)) p
  while :; do
    if p=$(settled); then printf '%s\n' "$p"; return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "gave up after $1s waiting for one primary, linked replicas, agreeing Sentinels and the endpoint on the primary:" >&2
      log "  $(state)" >&2
      return 1
    fi
    sleep 0.5
  done
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
    sleep 0.2
  done
}
# longest_gap SINCE_MS: the longest time between consecutive acknowledged writes from SINCE_MS-2s on
# to the last one (and the kill itself counts as the start of a gap), in seconds.
longest_gap() {
  sort -n -k2,2 "$work/log/acked" | awk -v k="$1" '
    { if (prev != "" && $2 >= k - 2000 && $2 - prev > g) g = $2 - prev; prev = $2 }
    END { printf "%.1f", g / 1000 }'
}
# back_after MS: seconds from MS to the acknowledged write that ends the longest gap after MS
# (a write already under way at the kill can be acknowledged just after it).
back_after() {
  sort -n -k2,2 "$work/log/acked" | awk -v k="$1" '
    { if (prev != "" && $2 > k && $2 - prev > g) { g = $2 - prev; e = $2 }; prev = $2 }
    END { if (e == "") print "-"; else printf "%.1f", (e - k) / 1000 }'
}
# switch_after SINCE KILL_MS: seconds from KILL_MS to the first +switch-master a Sentinel logged.
switch_after() {
  local s t best=''
  for s in "${sentinels[@]}"; do
    t=$(docker logs -t --since "$1" "$(ctr "$s")" 2>&1 | grep -m1 -F '+switch-master' | cut -d' ' -f1 || true)
    [ -n "$t" ] || continue
    t=$(date -d "$t" +%s%3N)
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  if [ -z "$best" ]; then echo '-'; else awk -v a="$best" -v k="$2" 'BEGIN { printf "%.1f", (a - k) / 1000 }'; fi
}
# keys_on WHERE: the acknowledged keys' numbers there, sorted (WHERE = endpoint or a member).
keys_on() {
  if [ "$1" = endpoint ]; then
    docker exec -e REDISCLI_AUTH="$pw" "$writer" timeout 30 redis-cli --raw -h redis --scan --pattern 'ack:*' 2>/dev/null
  else
    docker exec -e REDISCLI_AUTH="$pw" "$(ctr "$1")" timeout 30 redis-cli --raw --scan --pattern 'ack:*' 2>/dev/null
  fi | tr -d '\r' | sed -n 's/^ack://p' | sort -u || true
}
# check_keys STEP WHERE: every key acknowledged so far is there.
check_keys() {
  local n missing
  cut -d' ' -f1 "$work/log/acked" | sort -u >"$work/acked.ids"
  n=$(wc -l <"$work/acked.ids")
  keys_on "$2" >"$work/have.ids"
  missing=$(comm -23 "$work/acked.ids" "$work/have.ids" | wc -l)
  if [ "$missing" = 0 ] && [ "$n" -gt 0 ]; then
    ok "$1: all $n acknowledged keys there through ${2/#endpoint/the endpoint}"
  else
    bad "$1: $missing of $n acknowledged keys missing on $2 (first: $(comm -23 "$work/acked.ids" "$work/have.ids" | sort -n | head -3 | tr '\n' ' '))"
    comm -23 "$work/acked.ids" "$work/have.ids" >>"$work/lost.ids"
  fi
}
# verify STEP: settled, and every acknowledged key through the endpoint. Sets $primary.
verify() {
  if primary=$(wait_settled 60); then
    ok "$1: one primary ($primary), every running member its linked replica, the Sentinels and the endpoint on it"
  else
    bad "$1: one primary, linked replicas, Sentinels and endpoint agree"
    primary=''
  fi
  check_keys "$1" endpoint
}
# check_healthy STEP: every container's health check (health.sh member|sentinel, the endpoint's
# /ready) passes within 40 s.
check_healthy() {
  local deadline=$((SECONDS + 40)) c h sick
  while :; do
    sick=''
    for c in "${members[@]}" "${sentinels[@]}" redis; do
      h=$(docker inspect -f '{{.State.Health.Status}}' "$(ctr "$c")" 2>/dev/null || echo missing)
      [ "$h" = healthy ] || sick+=" $c=$h"
    done
    if [ -z "$sick" ]; then ok "$1: every member, Sentinel and the endpoint healthy"; return; fi
    if [ "$SECONDS" -ge "$deadline" ]; then bad "$1: every container healthy (not:$sick)"; return; fi
    sleep 1
  done
}
# poll_role MEMBER SECONDS: how many times ROLE said master on MEMBER, polled for SECONDS.
poll_role() {
  local deadline=$((SECONDS + $2)) n=0
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(role "$1")" = master ] && n=$((n + 1))
    sleep 0.2
  done
  echo "$n"
}

# ------------------------------------------------------------------ 1. start
log "work dir $work"
t0=$SECONDS
up
# The writer starts at once: its container is also where the checks reach the endpoint from.
chmod 0777 "$work/log"
docker run -d --name "$writer" --network "$net" -v "$work/log:/log" -e REDISCLI_AUTH="$pw" \
  --entrypoint bash "$image" -c '
    i=1
    while :; do
      if [ -e /log/pause ]; then touch /log/paused; sleep 0.2; continue; fi
      rm -f /log/paused
      out=$(printf "SET ack:%d %d\nWAIT 1 1000\n" "$i" "$i" | timeout 5 redis-cli --raw -h redis 2>>/log/errors | tr -d "\r" | tr "\n" " ")
      case $out in
        "OK 0 ") echo "$i" >>/log/unreplicated ;;
        "OK "[1-9]*) echo "$i $(date +%s%3N)" >>/log/acked ;;
        *) echo "$i $(date +%s%3N) ${out:-no answer}" >>/log/errors; sleep 0.05 ;;
      esac
      i=$((i + 1))
      sleep 0.01
    done' >/dev/null
if primary=$(wait_settled 120); then
  t_form=$((SECONDS - t0))
  ok "start: one primary ($primary), two linked replicas, the Sentinels and the endpoint agree in ${t_form}s"
else
  bad "start: one primary, two linked replicas, the Sentinels and the endpoint agree"
  exit 1
fi
if [ "$primary" = redis-1 ]; then
  ok "start: the first member is the first primary"
else
  bad "start: the first member is the first primary (it is $primary)"
fi
wait_acked 30 60 || bad "start: the writer's first 30 acknowledged writes"
verify start
check_healthy start

# ------------------------------------------------------------------ 2. kill -9 the primary
old=$primary
log "kill -9 the primary $old"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k=$(now_ms)
docker kill -s KILL "$(ctr "$old")" >/dev/null
if wait_acked 20 60; then
  t_back=$(back_after "$k")
  ok "failover: writes resume through the endpoint ${t_back}s after the kill"
else
  bad "failover: writes resume after the primary is killed"
fi
verify failover
t_switch=$(switch_after "$since" "$k")
gap=$(longest_gap "$k")
if [ -n "$primary" ] && [ "$primary" != "$old" ]; then
  ok "failover: the Sentinels promoted $primary (+switch-master ${t_switch}s after the kill)"
else
  bad "failover: a replica promoted (primary: ${primary:-none})"
fi
if awk -v g="$gap" 'BEGIN { exit !(g <= 15) }'; then
  ok "failover: longest gap between acknowledged writes ${gap}s (<= 15 s)"
else
  bad "failover: longest gap between acknowledged writes ${gap}s (> 15 s)"
fi

# ------------------------------------------------------------------ 3. the old primary comes back
log "up -d: the old primary $old comes back"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t0=$SECONDS
up
masters=$(poll_role "$old" 6)
if [ "$masters" = 0 ]; then
  ok "rejoin: $old never answered ROLE master in its first 6 s back"
else
  bad "rejoin: $old answered ROLE master $masters time(s) after coming back (a second primary)"
fi
l=$(docker logs --since "$since" "$(ctr "$old")" 2>&1)
if grep -q "replica of $primary (a majority of the Sentinels)" <<<"$l"; then
  ok "rejoin: member.sh started $old as a replica of $primary (the Sentinels' view)"
else
  bad "rejoin: member.sh started $old as a replica of $primary (saw: $(grep -m1 'redis member' <<<"$l" || echo nothing))"
fi
if p=$(wait_settled 60); then
  t_rejoin=$((SECONDS - t0))
  ok "rejoin: $old linked to $p ${t_rejoin}s after up -d"
else
  bad "rejoin: $old linked to the primary"
fi
wait_acked 10 30 || bad "rejoin: writes go on"
check_keys rejoin "$old"
verify rejoin

# ------------------------------------------------------------------ 4. kill -9 a replica
rep=''
for m in "${members[@]}"; do [ "$m" = "$primary" ] || { rep=$m; break; }; done
log "kill -9 the replica $rep"
k=$(now_ms)
docker kill -s KILL "$(ctr "$rep")" >/dev/null
if wait_acked 30 30; then ok "replica: writes go on while $rep is down (one replica left)"; else bad "replica: writes go on while $rep is down"; fi
gap_replica=$(longest_gap "$k")
verify replica
up
verify replica-back
check_keys replica-back "$rep"

# ------------------------------------------------------------------ 5. kill -9 a Sentinel, then the primary
log "kill -9 redis-sentinel-1"
docker kill -s KILL "$(ctr redis-sentinel-1)" >/dev/null
if wait_acked 20 30; then ok "sentinel: writes go on while redis-sentinel-1 is down"; else bad "sentinel: writes go on while redis-sentinel-1 is down"; fi
verify sentinel
old=$primary
log "kill -9 the primary $old with redis-sentinel-1 down (two Sentinels left, quorum 2)"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k=$(now_ms)
docker kill -s KILL "$(ctr "$old")" >/dev/null
wait_acked 20 60 || bad "sentinel: writes resume after $old is killed"
verify failover-2
t_switch2=$(switch_after "$since" "$k")
gap2=$(longest_gap "$k")
if [ -n "$primary" ] && [ "$primary" != "$old" ] && awk -v g="$gap2" 'BEGIN { exit !(g <= 15) }'; then
  ok "failover-2: two Sentinels promoted $primary (+switch-master ${t_switch2}s after the kill; longest gap ${gap2}s)"
else
  bad "failover-2: two Sentinels promote a replica within 15 s (primary: ${primary:-none}; longest gap ${gap2}s)"
fi
log "up -d: $old and redis-sentinel-1 come back"
up
verify back
s1=$(scli redis-sentinel-1 SENTINEL get-master-addr-by-name redis | head -n 1)
if [ "$s1" = "$primary" ] && [ "$(scli redis-sentinel-1 SENTINEL ckquorum redis | head -c 2)" = OK ]; then
  ok "back: redis-sentinel-1 names $primary and sees the quorum"
else
  bad "back: redis-sentinel-1 names ${s1:-nothing} (primary $primary) or does not see the quorum"
fi

# ------------------------------------------------------------------ 6. kill -9 everything
# Members and Sentinels at once; `up -d`: the Sentinels come back with the primary they kept, the
# members ask them, the same primary serves its AOF, nothing acknowledged is lost.
old=$primary
log "kill -9 every member and every Sentinel at once (the primary is $old)"
# shellcheck disable=SC2046 # one name per word
docker kill -s KILL $(for c in "${members[@]}" "${sentinels[@]}"; do ctr "$c"; echo; done) >/dev/null
sleep 2
t0=$SECONDS
up
if primary=$(wait_settled 90); then
  t_outage=$((SECONDS - t0))
  ok "outage: settled ${t_outage}s after up -d, $primary the primary"
else
  bad "outage: one primary, linked replicas, Sentinels and endpoint agree after up -d"
fi
if [ "$primary" = "$old" ]; then
  ok "outage: the primary before the outage ($old) is the primary after it"
else
  bad "outage: the primary before the outage ($old) is the primary after it (it is ${primary:-none})"
fi
wait_acked 20 60 || bad "outage: writes resume"
check_keys outage endpoint
check_healthy outage

# ------------------------------------------------------------------ every member has every key
touch "$work/log/pause"
deadline=$((SECONDS + 20))
until [ -e "$work/log/paused" ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
sleep 1
for m in "${members[@]}"; do check_keys final "$m"; done

# ------------------------------------------------------------------ summary
acked=$(acked_count)
unrepl=$( [ -s "$work/log/unreplicated" ] && wc -l <"$work/log/unreplicated" || echo 0)
lost=$(sort -u "$work/lost.ids" 2>/dev/null | grep -c . || true)
# Writes the endpoint sent to a replica (READONLY) and writes refused (no answer, no primary, no
# replica): errors the application sees, not losses.
readonly_errs=$(grep -c 'READONLY' "$work/log/errors" 2>/dev/null || true)
other_errs=$(grep -vc 'READONLY' "$work/log/errors" 2>/dev/null || true)
cat <<EOF
---------------------------------------------------------------- redis figures
time to start (up -d to settled)              ${t_form} s
failover: kill -9 to +switch-master           ${t_switch} s   (down-after-milliseconds 3000)
failover: kill -9 to writes acked again       ${t_back} s
failover: longest gap between acked writes    ${gap} s   (goal <= 15 s)
old primary back: up -d to linked replica     ${t_rejoin} s
replica killed: longest gap                   ${gap_replica} s
failover with a Sentinel down: switch / gap   ${t_switch2} s / ${gap2} s
full outage (kill -9 all): up -d to settled   ${t_outage} s
keys acknowledged and replicated              ${acked}
keys acknowledged, WAIT 0 (not counted)       ${unrepl}
keys lost (acknowledged+replicated, missing)  ${lost}
writes sent to a replica (READONLY)           ${readonly_errs:-0}
writes failed otherwise (no primary, cut)     ${other_errs:-0}
---------------------------------------------------------------------------------
EOF
[ "$lost" = 0 ] || failed=$((failed + 1))
echo "redis: $passed passed, $failed failed"
[ "$failed" = 0 ]
