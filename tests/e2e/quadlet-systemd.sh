#!/usr/bin/env bash
# tests/e2e/quadlet-systemd.sh -- the systemd target started for real under systemd: the Quadlet
# flavour (the default) on podman 5.4 and the docker flavour on Docker 26, with systemd 257 as PID 1
# (Debian 13), in a Docker container on the project's Debian 12 machines, where podman 4.3 has no
# Quadlet and systemd is not PID 1. Run by .ci/run after `cargo test`.
#
# Usage: bash tests/e2e/quadlet-systemd.sh [image|run]      (default: run; `image` builds only)
#
#   MISP_GEN_BIN         the binary under test (default target/debug/misp-gen)
#   MISP_GEN_E2E_CACHE   cache of root filesystems (default target/e2e-images, as build-images.sh)
#   MISP_GEN_E2E_PREFIX  prefix of every Docker container and volume it makes (default mg-e2e-quadlet)
#   KEEP=1               leave the systemd container running at the end
#
# Needs the Docker images of tests/e2e/build-images.sh (busybox, MariaDB), debootstrap and the
# Debian mirror. What it asserts (each a RESULT line; any FAILED makes the exit status 1):
#   Quadlet: tests/e2e/stack.yaml rendered for podman_version 4.6, then on the same host for 5.4:
#   quadlet -dryrun accepts the files; every unit of the target active, every container healthy,
#   start order database -> web -> worker from the units' timestamps, the published port answers,
#   the non-root worker reads its secrets and files and reaches web and the database by the names
#   the spec gives them, MariaDB takes the generated password and
#   refuses another; rows written survive `systemctl restart` of the target, a reboot of the
#   systemd container, an upgrade (changed setting, re-render, daemon-reload, restart) and raising
#   podman_version from 4.6 to 5.4 (same volume and network names, same secrets).
#   docker flavour: the same stack's units on Docker in the same host, the same checks, a restart.
#   tests/e2e/multiline.yaml, Quadlet and docker flavours: a multi-line value with quotes, `%`,
#   `$` and backslashes arrives byte for byte in the container's environment and argument.
#   A host where podman never ran (no /var/lib/containers) and a host with graphroot moved in
#   storage.conf start the Quadlet network and volume units.
#
# Why this way (docs/src/contributing.md, "What is tested for real"): `--privileged` fails on these hosts
# (the VM's capability bounding set lacks CAP_SYS_RESOURCE and Docker 20.10 then ignores
# --cap-drop), so the container gets every other capability, no seccomp filter, writable /proc/sys
# (netavark sets sysctls) and a private cgroup namespace. The host is cgroup v1 hybrid, which
# systemd 257 refuses: the container's init mounts cgroup2 itself. That tree has no controllers,
# so podman runs with pids_limit = 0 and `resources:` cannot be exercised here.
#
# Cached: the Debian 13 root filesystem (a tarball keyed by its package list, under the cache),
# the Docker images made from it (localhost/misp-gen-e2e-systemd[-base], tagged by the key of
# everything that goes into them), and the image stores of podman and Docker in the host (the
# Docker volumes $MISP_GEN_E2E_PREFIX-storage and -docker; the e2e images are loaded again only
# when their inputs change). Everything else it makes (containers, the graphroot volume, the
# rendered files) goes at exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${MISP_GEN_E2E_CACHE:-$repo/target/e2e-images}
prefix=${MISP_GEN_E2E_PREFIX:-mg-e2e-quadlet}
bin=${MISP_GEN_BIN:-$repo/target/debug/misp-gen}
mode=${1:-run}
keep=${KEEP:-0}

# shellcheck source=SCRIPTDIR/../../.ci/tools.sh
source "$repo/.ci/tools.sh"

T0=$SECONDS
say() { printf '[quadlet %4ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }

# ---------------------------------------------------------------- the Debian 13 host image

PKGS=systemd,systemd-sysv,dbus,podman,crun,netavark,aardvark-dns,conmon,fuse-overlayfs,iproute2,curl,nftables,catatonit,busybox-static,docker.io,docker-cli
# docker.io and docker-cli (Docker 26) for the docker flavour's units.
# PID 1: systemd 257 wants the unified cgroup hierarchy; the host gives v1 hybrid. Mount cgroup2 at
# /sys/fs/cgroup (rooted at the container's own cgroup namespace) and /sys read-write, then boot.
# shellcheck disable=SC2016 # a script for the container: its $(...) and "$@" run there
INIT='#!/bin/sh
mount -o remount,rw /sys 2>/dev/null || true
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup 2>/dev/null || true
  mount -t cgroup2 -o rw,nosuid,nodev,noexec,relatime cgroup2 /sys/fs/cgroup
fi
exec /sbin/init "$@"
'
# No controller is delegated to that cgroup2 tree: podman's default pids limit cannot be set.
CONTAINERS_CONF='[containers]
pids_limit = 0
'
# What a container has no use for (consoles, kernel modules, a real host's timers, DHCP proxy).
MASKED='getty@tty1.service console-getty.service systemd-pstore.service systemd-modules-load.service
systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer
netavark-dhcp-proxy.service netavark-dhcp-proxy.socket'
BASE_KEY=$(printf '%s\n' trixie minbase "$PKGS" trim-1 | sha256sum | cut -c1-16)
BASE_TAR=$cache/trixie-systemd-$BASE_KEY.tar
# Docker's daemon starts only when the docker flavour's units want it (docker.io enables it).
DOCKER_OFF='rm -f /etc/systemd/system/multi-user.target.wants/docker.service /etc/systemd/system/sockets.target.wants/docker.socket'
IMAGE_KEY=$(printf '%s\n' "$BASE_KEY" "$INIT" "$CONTAINERS_CONF" "$MASKED" "$DOCKER_OFF" | sha256sum | cut -c1-16)
IMAGE=localhost/misp-gen-e2e-systemd:$IMAGE_KEY

base_tar() {
  [ -s "$BASE_TAR" ] && return
  command -v debootstrap >/dev/null || { say "debootstrap is missing (.ci/tools.sh installs it)"; exit 1; }
  mkdir -p "$cache/debs-trixie"
  rm -f "$cache"/trixie-systemd-*.tar
  local work root
  work=$(mktemp -d "$cache/trixie.XXXXXX")
  root=$work/root
  say "debootstrap --variant=minbase trixie ($PKGS)"
  debootstrap --variant=minbase --include="$PKGS" --cache-dir="$cache/debs-trixie" \
    trixie "$root" "$(_mg_mirror_uri)" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
    "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  tar --numeric-owner -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$work"
  say "root filesystem: $(du -h "$BASE_TAR" | cut -f1) $BASE_TAR"
}

# The base imported once, then this script's files on top in a second layer (docker import
# refuses a tarball that holds a path twice, and a layer needs no re-debootstrap when they change).
host_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "image $IMAGE present"
    return
  fi
  base_tar
  local base=localhost/misp-gen-e2e-systemd-base:$BASE_KEY ctx u
  docker image inspect "$base" >/dev/null 2>&1 \
    || docker import --change 'ENV container=docker' "$BASE_TAR" "$base" >/dev/null
  ctx=$(mktemp -d)
  mkdir -p "$ctx/o/usr/local/sbin" "$ctx/o/etc/containers" "$ctx/o/etc/systemd/system"
  printf '%s' "$INIT" >"$ctx/o/usr/local/sbin/misp-gen-e2e-init"
  chmod 0755 "$ctx/o/usr/local/sbin/misp-gen-e2e-init"
  printf '%s' "$CONTAINERS_CONF" >"$ctx/o/etc/containers/containers.conf"
  ln -s /usr/lib/systemd/system/multi-user.target "$ctx/o/etc/systemd/system/default.target"
  for u in $MASKED; do ln -s /dev/null "$ctx/o/etc/systemd/system/$u"; done
  cat >"$ctx/Dockerfile" <<EOF
FROM $base
COPY o/ /
RUN : >/etc/machine-id && $DOCKER_OFF
ENV container=docker
LABEL org.misp-gen.e2e.systemd=$IMAGE_KEY
CMD ["/usr/local/sbin/misp-gen-e2e-init"]
EOF
  say "docker build $IMAGE"
  docker build -q -t "$IMAGE" "$ctx" >"$ctx.log" 2>&1 || { cat "$ctx.log" >&2; exit 1; }
  rm -rf "$ctx" "$ctx.log"
  # Images of earlier inputs go (a cache, not a history).
  docker images --format '{{.Repository}}:{{.Tag}}' \
    | grep -E '^localhost/misp-gen-e2e-systemd(-base)?:' \
    | grep -vx -e "$IMAGE" -e "$base" | xargs -r docker rmi >/dev/null 2>&1 || true
}

if [ "$mode" = image ]; then
  host_image
  exit 0
fi

# ---------------------------------------------------------------- the systemd host

host=$prefix-host
work=$(mktemp -d "${TMPDIR:-/tmp}/misp-gen-quadlet.XXXXXX")
RUN=(--cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt systempaths=unconfined --cgroupns=private --stop-signal=SIGRTMIN+3
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp)
cleanup() {
  if [ "$keep" = 1 ]; then
    say "KEEP=1: $host left running; docker rm -f $host; rm -rf $work"
  else
    docker rm -f "$host" "$prefix-fresh" >/dev/null 2>&1 || true
    docker volume rm -f "$prefix-graphroot" >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

declare -a RESULTS=()
result() { # NAME DETAIL (DETAIL starting with FAILED fails the run)
  RESULTS+=("$1: $2")
  say "RESULT $1: $2"
}
in_host() { docker exec "$host" "$@"; }
sh_host() { docker exec "$host" bash -c "$1"; }

# boot_wait CONTAINER: until systemd answers and the boot is over (running, or degraded).
boot_wait() {
  local c=$1 t=$SECONDS state
  until docker exec "$c" test -S /run/systemd/private 2>/dev/null; do
    [ $((SECONDS - t)) -lt 90 ] || { docker logs "$c" 2>&1 | tail -30 >&2; return 1; }
    sleep 1
  done
  state=$(timeout 180 docker exec "$c" systemctl is-system-running --wait 2>/dev/null || true)
  say "$c: systemd $state after $((SECONDS - t))s"
  case $state in
    running) ;;
    degraded) docker exec "$c" systemctl --failed --no-legend --plain >&2 || true ;;
    *) docker logs "$c" 2>&1 | tail -30 >&2; return 1 ;;
  esac
}

# The engines' stores are Docker volumes, kept between runs: the images load once.
start_host() {
  docker rm -f "$host" >/dev/null 2>&1 || true
  docker run -d --name "$host" --hostname "$host" "${RUN[@]}" \
    -v "$prefix-storage:/var/lib/containers" -v "$prefix-docker:/var/lib/docker" \
    -v "$work:/e2e:ro" "$IMAGE" >/dev/null
  boot_wait "$host"
  say "host: $(in_host systemctl --version | head -1), $(in_host podman --version), cgroup $(in_host stat -fc %T /sys/fs/cgroup)"
}

# The images build-images.sh made for Docker, loaded into ENGINE on the host unless it has them
# from the same inputs (the label).
load_images() { # ENGINE
  local eng=$1 img label=org.misp-gen.e2e.inputs want have loaded
  for img in docker.io/library/busybox:1.35.0 docker.io/library/mariadb:10.11; do
    want=$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$img" 2>/dev/null) \
      || { say "Docker has no $img: run tests/e2e/build-images.sh docker"; exit 1; }
    have=$(in_host "$eng" image inspect --format "{{ index .Config.Labels \"$label\" }}" "$img" 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
      say "$eng load $img"
      # `docker save` names it without the registry; podman would file it under localhost/.
      loaded=$(docker save "$img" | docker exec -i "$host" "$eng" load -q | sed -n 's/^Loaded image: //p')
      in_host "$eng" tag "$loaded" "$img"
      [ "$eng" = docker ] || [ "$loaded" = "$img" ] || in_host podman untag "$loaded" "$loaded"
    fi
  done
}

# ---------------------------------------------------------------- a stack on the host

# What the functions below work on: the flavour rendered, the engine that runs it, the stack's
# name and published port.
flavor=quadlet engine=podman name=e2e-stack port=18480

# render TAG SPEC EXTRA: SPEC with the text EXTRA (a `targets:` block) appended, rendered into
# $work/TAG (seen in the host at /e2e/TAG). Rendering again into the same TAG keeps its secrets,
# as an operator's re-render does.
render() {
  local tag=$1 spec=$2 extra=$3
  mkdir -p "$work/$tag"
  { cat "$spec"; printf '%s' "$extra"; } >"$work/$tag.yaml"
  rerender "$tag"
}

# rerender TAG: $work/TAG.yaml (edited) rendered again into $work/TAG.
rerender() {
  if ! "$bin" render "$work/$1.yaml" --target systemd --flavor "$flavor" --out "$work/$1" \
    >/dev/null 2>"$work/$1.err"; then
    cat "$work/$1.err" >&2
    result "$1 render" "FAILED: $(grep -m1 error "$work/$1.err")"
    return 1
  fi
}

# install TAG LABEL: docs/src/targets/systemd.md's install steps for $name, then daemon-reload (which runs the
# Quadlet generator); quadlet -dryrun must accept the files without a word on stderr.
install() {
  local tag=$1 label=$2 err
  sh_host "set -e; OUT=/e2e/$tag; NAME=$name; DEST=/etc/misp-gen/\$NAME
    install -d -m 0700 \"\$DEST\"
    [ ! -d \"\$OUT/secrets\" ] || cp -r \"\$OUT/secrets\" \"\$DEST/\"
    [ ! -d \"\$OUT/systemd/files\" ] || cp -r \"\$OUT/systemd/files\" \"\$DEST/\"
    rm -f /etc/containers/systemd/\$NAME[.-]* /etc/systemd/system/\$NAME[.-]*.service
    if [ $flavor = quadlet ]; then
      cp \"\$OUT\"/systemd/*.container /etc/containers/systemd/
      for f in \"\$OUT\"/systemd/*.volume \"\$OUT\"/systemd/*.network; do [ ! -e \"\$f\" ] || cp \"\$f\" /etc/containers/systemd/; done
    else
      cp \"\$OUT\"/systemd/*.service /etc/systemd/system/
    fi
    cp \"\$OUT/systemd/\$NAME.target\" /etc/systemd/system/
    systemctl daemon-reload
    systemctl enable -q \"\$NAME.target\"" || { result "$label install" "FAILED"; return 0; }
  [ "$flavor" = quadlet ] || return 0
  if err=$(sh_host '/usr/libexec/podman/quadlet -dryrun 2>&1 >/dev/null | grep -v "^quadlet-generator\[[0-9]*\]: Loading source unit file"'); then
    result "$label quadlet -dryrun" "FAILED: $err"
  else
    result "$label quadlet -dryrun" "accepted"
  fi
}

units_of() { in_host systemctl list-dependencies --plain --no-legend "$1.target" | sed -n 's/^ *//p' | grep -v "^$1.target\$"; }

# wait_active STACK SECONDS: every unit of STACK.target active (fails at once on a failed one).
wait_active() {
  local stack=$1 limit=$2 t=$SECONDS u bad
  while :; do
    bad=""
    for u in $(units_of "$stack"); do
      case $(in_host systemctl is-active "$u" 2>/dev/null || true) in
        active) ;;
        failed) bad="$bad $u(failed)" ;;
        *) bad="$bad $u" ;;
      esac
      # Restart= would try again for ever: a unit that failed once has failed.
      [ "$(in_host systemctl show -P NRestarts "$u")" = 0 ] || bad="$bad $u(failed, restarted)"
    done
    [ -n "$bad" ] || return 0
    if [[ $bad == *failed* ]] || [ $((SECONDS - t)) -ge "$limit" ]; then
      say "not active after $((SECONDS - t))s:$bad"
      for u in $(units_of "$stack"); do
        in_host systemctl status --no-pager -l "$u" 2>&1 | head -15 | sed 's/^/  | /' >&2
        in_host journalctl -u "$u" --no-pager -n 15 -o cat 2>&1 | sed 's/^/  | /' >&2
      done
      return 1
    fi
    sleep 2
  done
}

healthy() { # CONTAINER SECONDS
  local t=$SECONDS h
  while h=$(in_host "$engine" inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null || echo absent); [ "$h" != healthy ]; do
    [ $((SECONDS - t)) -lt "$2" ] || { in_host "$engine" logs --tail 10 "$1" >&2 || true; return 1; }
    sleep 2
  done
}

ctr() { in_host "$engine" exec "$name-$1" "${@:2}"; }

# sql PASSWORD STATEMENT: as the stack's database user, over TCP inside the database container
sql() {
  printf '%s\n' "$1" | docker exec -i "$host" "$engine" exec -i "$name-database" sh -c \
    "read -r pw; MYSQL_PWD=\"\$pw\" exec mariadb -h 127.0.0.1 -u app --skip-column-names app -e \"\$0\"" "$2"
}

# check_stack LABEL GREETING: the stack as it runs now.
check_stack() {
  local tag=$1 greeting=$2 c a b d e page pw token secrets=/etc/misp-gen/$name/secrets
  if wait_active "$name" 300; then
    result "$tag units" "all active: $(units_of "$name" | tr '\n' ' ')"
  else
    result "$tag units" "FAILED"
    return 0
  fi
  for c in database web worker; do
    if healthy "$name-$c" 120; then result "$tag $c" healthy; else result "$tag $c" "FAILED: not healthy"; fi
  done
  mono() { in_host systemctl show -P "$2" "$name-$1.service"; }
  a=$(mono database ActiveEnterTimestampMonotonic); b=$(mono web InactiveExitTimestampMonotonic)
  d=$(mono web ActiveEnterTimestampMonotonic); e=$(mono worker InactiveExitTimestampMonotonic)
  if [ "$a" -gt 0 ] && [ "$b" -ge "$a" ] && [ "$d" -gt 0 ] && [ "$e" -ge "$d" ]; then
    result "$tag order" "database healthy ($a) before web starts ($b); web healthy ($d) before worker starts ($e)"
  else
    result "$tag order" "FAILED: $a $b $d $e"
  fi
  page=$(in_host curl -fsS --max-time 5 "http://127.0.0.1:$port/index.html" || true)
  if [ "$page" = "<h1>$greeting from $name</h1>" ]; then result "$tag port $port" "$page"; else result "$tag port $port" "FAILED: '$page'"; fi
  page=$(in_host curl -fsS --max-time 5 "http://127.0.0.1:$port/shared/status.txt" || true)
  if [ "$page" = "worker 1000 says $greeting" ]; then result "$tag worker" "$page (its secrets and files checked by its program)"; else result "$tag worker" "FAILED: '$page'"; fi
  # Other containers by the names the spec gives them: the service `web` by its own name (a
  # network alias of every container), the database by its `hostname` (db).
  if ctr worker wget -q -O /dev/null "http://web:8080/index.html" && ctr worker nslookup db >/dev/null; then
    result "$tag names" "the worker reaches web by the service's name and resolves the database's hostname db"
  else
    result "$tag names" "FAILED"
  fi
  token=$(in_host cat "$secrets/app_token")
  if [ "$(ctr worker id -u)" = 1000 ] && [ "$(ctr worker cat /run/secrets/app/app_token)" = "$token" ] \
    && [ "$(ctr worker stat -c %a /run/secrets/app/app_token /etc/worker/tls/server.crt /etc/worker/worker.conf | tr '\n' ' ')" = "444 444 644 " ]; then
    result "$tag non-root secrets" "uid 1000 reads app_token (0444), the TLS item (0444) and its config (0644)"
  else
    result "$tag non-root secrets" "FAILED"
  fi
  pw=$(in_host cat "$secrets/db_password")
  if [ "$(sql "$pw" 'select current_user()' 2>&1)" = "app@%" ] && ! sql wrong 'select 1' >/dev/null 2>&1; then
    result "$tag database password" "the generated one logs in, another is refused"
  else
    result "$tag database password" "FAILED"
  fi
}

rows() { sql "$(in_host cat "/etc/misp-gen/$name/secrets/db_password")" 'select count(*) from kept' 2>&1 || true; }

# The state that must survive: rows, secrets (installed copies), volume and network names.
state() {
  printf 'rows=%s\n' "$(rows)"
  sh_host "cd /etc/misp-gen/$name/secrets && find . -type f | sort | xargs sha256sum"
  sh_host "$engine volume ls --format 'volume {{.Name}}' | grep -F '$name' | sort; $engine network ls --format 'network {{.Name}}' | grep -F '$name' | sort"
}

same_state() { # LABEL WHAT BEFORE
  local now
  now=$(state)
  if [ "$now" = "$3" ]; then
    result "$1 $2" "kept: $(head -1 <<<"$now"), every secret, volumes $(grep '^volume' <<<"$now" | cut -d' ' -f2 | tr '\n' ' ')"
  else
    result "$1 $2" "FAILED: $(diff <(printf '%s\n' "$3") <(printf '%s\n' "$now") | grep '^[<>]' | head -5 | tr '\n' ' ')"
  fi
}

write_rows() { sql "$(in_host cat "/etc/misp-gen/$name/secrets/db_password")" 'create table kept (n int); insert into kept values (1), (2), (3)' || true; }

restart_keeps() { # LABEL GREETING BEFORE
  local inv
  inv=$(in_host systemctl show -P InvocationID "$name-database.service")
  in_host systemctl restart "$name.target" || true
  check_stack "$1" "$2"
  [ "$(in_host systemctl show -P InvocationID "$name-database.service")" != "$inv" ] \
    || result "$1" "FAILED: the database unit did not restart"
  same_state "$1" data "$3"
}

# Quadlet: tests/e2e/stack.yaml for podman_version 4.6; restart; reboot; an upgrade; then the same
# host raises podman_version to 5.4.
quadlet_stack() {
  local spec=$repo/tests/e2e/stack.yaml before
  flavor=quadlet engine=podman name=e2e-stack port=18480
  sh_host 'podman rm -af -t 0 >/dev/null 2>&1; podman volume prune -f >/dev/null; podman network prune -f >/dev/null; rm -rf /etc/misp-gen/e2e-stack; true'

  render stack "$spec" $'targets:\n  systemd: { podman_version: "4.6" }\n' || return 0
  install stack 4.6
  in_host systemctl start e2e-stack.target || true
  check_stack "4.6" hello
  write_rows
  before=$(state)
  restart_keeps "4.6 restart" hello "$before"

  say "reboot: docker restart $host"
  docker restart -t 120 "$host" >/dev/null
  boot_wait "$host"
  check_stack "4.6 reboot" hello
  same_state "4.6 reboot" data "$before"

  # An upgrade: a changed setting (the greeting, the database's health-check interval), rendered
  # again into the same output (secrets kept), installed, daemon-reload, restart.
  sed -i -e 's/^  greeting: hello$/  greeting: bonjour/' -e 's/interval: 2s }$/interval: 3s }/' "$work/stack.yaml"
  rerender stack || return 0
  install stack "4.6 upgrade"
  in_host systemctl restart e2e-stack.target || true
  check_stack "4.6 upgrade" bonjour
  same_state "4.6 upgrade" "data and secrets" "$before"

  # The same host moves to podman_version 5.4 (Notify=healthy, VolumeName=/NetworkName=, ...).
  sed -i 's/podman_version: "4.6"/podman_version: "5.4"/' "$work/stack.yaml"
  rerender stack || return 0
  grep -q '^Notify=healthy' "$work/stack/systemd/e2e-stack-database.container" \
    || result "5.4 render" "FAILED: no Notify=healthy"
  install stack 5.4
  in_host systemctl restart e2e-stack.target || true
  check_stack "5.4" bonjour
  same_state "5.4 (podman_version raised from 4.6)" "data, secrets, volume and network names" "$before"
  in_host systemctl stop e2e-stack.target || true
}

# The docker flavour's units on Docker 26 in the same host: the stack, then a restart.
docker_stack() {
  local before
  flavor=docker engine=docker name=e2e-dstack port=18481
  in_host systemctl start docker.service
  load_images docker
  # shellcheck disable=SC2016 # runs in the systemd container: $(docker ps -aq) is its containers
  sh_host 'docker rm -f $(docker ps -aq) >/dev/null 2>&1; docker volume prune -af >/dev/null; docker network prune -f >/dev/null; rm -rf /etc/misp-gen/e2e-dstack; true'
  sed -e 's/^name: e2e-stack$/name: e2e-dstack/' -e 's/publish: 18480/publish: 18481/' \
    "$repo/tests/e2e/stack.yaml" >"$work/dstack.yaml"
  rerender dstack || return 0
  install dstack docker
  in_host systemctl start e2e-dstack.target || true
  check_stack "docker" hello
  write_rows
  before=$(state)
  restart_keeps "docker restart" hello "$before"
  in_host systemctl stop e2e-dstack.target || true
}

# A multi-line value, byte for byte: the container is healthy only if its environment and its
# argument equal the `files:` copy; then both are read back here and compared with it too.
multiline() { # FLAVOR ENGINE EXTRA
  local tag=multi-$1 c=e2e-multi-app f
  flavor=$1 engine=$2 name=e2e-multi
  render "$tag" "$repo/tests/e2e/multiline.yaml" "$3" || return 0
  install "$tag" "multi-line $flavor"
  in_host systemctl start e2e-multi.target || true
  if ! wait_active e2e-multi 120 || ! healthy "$c" 60; then
    result "multi-line value ($flavor)" "FAILED: $c not healthy"
    return 0
  fi
  for f in env arg; do
    if docker exec "$host" "$engine" exec "$c" cat "/tmp/$f.txt" | cmp -s - "$work/$tag/systemd/files/expected"; then
      result "multi-line value ($flavor, $f)" "byte for byte ($(wc -c <"$work/$tag/systemd/files/expected") bytes)"
    else
      result "multi-line value ($flavor, $f)" "FAILED: $(docker exec "$host" "$engine" exec "$c" cat "/tmp/$f.txt" | od -c | head -3 | tr '\n' ' ')"
    fi
  done
  in_host systemctl stop e2e-multi.target || true
  sh_host 'systemctl disable -q e2e-multi.target; rm -f /etc/containers/systemd/e2e-multi* /etc/systemd/system/e2e-multi*; systemctl daemon-reload'
}

# The network and volume units on a host where podman never ran, then with graphroot moved.
helpers() {
  local c=$prefix-fresh out
  docker rm -f "$c" >/dev/null 2>&1 || true
  docker volume rm -f "$prefix-graphroot" >/dev/null 2>&1 || true
  docker run -d --name "$c" --hostname "$c" "${RUN[@]}" -v "$prefix-graphroot:/srv/containers" \
    -v "$work:/e2e:ro" "$IMAGE" >/dev/null
  boot_wait "$c"
  # Debian's podman makes /var/lib/containers at boot (tmpfiles) or on first use, not at install.
  out=$(docker exec "$c" bash -c 'rm -rf /var/lib/containers
    cp /e2e/stack/systemd/e2e-stack.network /e2e/stack/systemd/e2e-stack-shared.volume /etc/containers/systemd/
    systemctl daemon-reload
    systemctl start e2e-stack-network.service e2e-stack-shared-volume.service 2>&1
    systemctl is-active e2e-stack-network.service e2e-stack-shared-volume.service | tr "\n" " "
    podman volume ls --format "{{.Name}} {{.Mountpoint}}"' 2>&1 || true)
  if grep -q '^active active' <<<"$out"; then
    result "fresh host (no /var/lib/containers)" "network and volume units start: $(tail -1 <<<"$out")"
  else
    result "fresh host (no /var/lib/containers)" "FAILED: $(tr '\n' ' ' <<<"$out")"
    docker exec "$c" journalctl --no-pager -o cat -u e2e-stack-network.service -u e2e-stack-shared-volume.service | tail -5 >&2 || true
  fi
  out=$(docker exec "$c" bash -c 'systemctl stop e2e-stack-network.service e2e-stack-shared-volume.service
    podman volume rm -af >/dev/null; podman network rm -f systemd-e2e-stack >/dev/null 2>&1
    printf "[storage]\ndriver = \"overlay\"\ngraphroot = \"/srv/containers/storage\"\nrunroot = \"/run/containers/storage\"\n" >/etc/containers/storage.conf
    systemctl start e2e-stack-network.service e2e-stack-shared-volume.service 2>&1
    systemctl is-active e2e-stack-network.service e2e-stack-shared-volume.service | tr "\n" " "
    podman volume ls --format "{{.Name}} {{.Mountpoint}}"' 2>&1 || true)
  if grep -q '^active active' <<<"$out" && grep -q ' /srv/containers/storage/' <<<"$out"; then
    result "graphroot moved to /srv/containers/storage" "network and volume units start: $(tail -1 <<<"$out")"
  else
    result "graphroot moved to /srv/containers/storage" "FAILED: $(tr '\n' ' ' <<<"$out")"
    docker exec "$c" journalctl --no-pager -o cat -u e2e-stack-shared-volume.service | tail -5 >&2 || true
  fi
  docker rm -f "$c" >/dev/null
  docker volume rm -f "$prefix-graphroot" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- main

[ -x "$bin" ] || { say "no $bin: cargo build first"; exit 1; }
# shellcheck source=/dev/null # the host's os-release, read at run time
say "machine: $(. /etc/os-release; echo "$PRETTY_NAME"), Docker $(docker version --format '{{.Server.Version}}'), kernel $(uname -r)"
host_image
start_host
load_images podman
quadlet_stack
multiline quadlet podman $'targets:\n  systemd: { podman_version: "5.4" }\n'
helpers
docker_stack
multiline docker docker ""

say "summary ($((SECONDS - T0))s):"
printf '  %s\n' "${RESULTS[@]}" >&2
if printf '%s\n' "${RESULTS[@]}" | grep -q ': FAILED'; then
  say "FAILED"
  exit 1
fi
say "every result held"
