#!/usr/bin/env bash
# tests/e2e/build-images.sh -- the images the end-to-end tests run, built locally from Debian packages.
#
# Usage: bash tests/e2e/build-images.sh [docker|podman|all]     (default: all engines that answer)
#
# No registry is reachable on the project's machines, so every image the e2e specs name is made
# here: a root filesystem from Debian packages, packed as a tarball and `docker import`ed /
# `podman import`ed under the name the spec uses (the official images' names, so the renderers'
# defaults -- the mariadb health check, the HAProxy config path -- are what runs):
#
#   docker.io/library/busybox:1.35.0   Debian's busybox-static: sh, httpd, wget; a user `app`
#                                      (1000:1000) and /srv/shared owned by it
#   docker.io/library/mariadb:10.11    debootstrap --variant=minbase --include=mariadb-server,haproxy
#                                      bookworm, plus a small docker-entrypoint.sh and healthcheck.sh
#                                      that do what the official image's do for the MARIADB_* variables
#                                      and `healthcheck.sh --connect --innodb_initialized`
#   docker.io/library/haproxy:3.0.5    the same root filesystem (one layer on disk), running Debian's
#                                      haproxy (2.6) as user haproxy with the official image's config
#                                      path /usr/local/etc/haproxy/haproxy.cfg
#
# Every image carries the label org.misp-gen.e2e.inputs=<sha256 of this script>: an image with that
# label is kept as it is, so a second run takes seconds. The root filesystem tarballs are cached in
# ${MISP_GEN_E2E_CACHE:-target/e2e-images} (and the downloaded .debs under it), so importing into a
# fresh engine needs no debootstrap. Needs root (debootstrap), debootstrap and the Debian mirror.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${MISP_GEN_E2E_CACHE:-$repo/target/e2e-images}
suite=bookworm
inputs=$(sha256sum "$0" | cut -c1-16)
label=org.misp-gen.e2e.inputs

BUSYBOX_IMAGE=docker.io/library/busybox:1.35.0
MARIADB_IMAGE=docker.io/library/mariadb:10.11
HAPROXY_IMAGE=docker.io/library/haproxy:3.0.5
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

log() { printf 'e2e-images: %s\n' "$*" >&2; }

# The Debian mirror the system already uses: the same lookup .ci/tools.sh makes for quadlet.
# shellcheck source=SCRIPTDIR/../../.ci/tools.sh
source "$repo/.ci/tools.sh"

# ---------------------------------------------------------------- root filesystems

busybox_tar() {
  local tar=$cache/busybox-$inputs.tar work
  [ -s "$tar" ] && { printf '%s\n' "$tar"; return; }
  log "building the busybox root filesystem"
  work=$(mktemp -d "$cache/busybox.XXXXXX")
  (
    cd "$work"
    apt-get -o APT::Sandbox::User=root download busybox-static >/dev/null
    dpkg-deb -x busybox-static_*.deb x
    mkdir -p root/bin root/etc root/tmp root/www root/srv/shared root/root
    cp x/bin/busybox root/bin/busybox
    for a in $(root/bin/busybox --list); do
      [ "$a" = busybox ] || ln -s busybox "root/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv/shared:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >root/etc/passwd
    printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' >root/etc/group
    chmod 1777 root/tmp
    # The shared volume takes this directory's owner when Docker or podman first fills it.
    chown 1000:1000 root/srv/shared
    ln -s /srv/shared root/www/shared
    tar --numeric-owner -C root -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
  )
  rm -rf "$work"
  printf '%s\n' "$tar"
}

# The official mariadb image's entrypoint, reduced to what the renderers use: initialise an empty
# datadir from MARIADB_DATABASE / MARIADB_USER / MARIADB_PASSWORD / MARIADB_ROOT_PASSWORD (each also
# as *_FILE, the path of a file that holds it, which the renderers use for passwords) (or
# MARIADB_RANDOM_ROOT_PASSWORD) and create the health-check user healthcheck.sh logs in as.
write_entrypoint() {
  cat >"$1" <<'EOF'
#!/bin/bash
set -euo pipefail
datadir=/var/lib/mysql
random() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }
# VAR_FILE names a file that holds VAR, as the official images read it.
file_env() {
  local var=$1 file_var="${1}_FILE"
  if [ -n "${!file_var:-}" ]; then
    export "$var"="$(<"${!file_var}")"
    unset "$file_var"
  fi
}
file_env MARIADB_PASSWORD
file_env MARIADB_ROOT_PASSWORD
if [ "${1:-}" = mariadbd ]; then
  mkdir -p /run/mysqld "$datadir"
  chown mysql:mysql /run/mysqld "$datadir"
  if [ ! -d "$datadir/mysql" ]; then
    : "${MARIADB_PASSWORD:?MARIADB_PASSWORD is required}" "${MARIADB_USER:?}" "${MARIADB_DATABASE:?}"
    if [ -z "${MARIADB_ROOT_PASSWORD:-}" ]; then
      [ -n "${MARIADB_RANDOM_ROOT_PASSWORD:-}" ] || { echo "no root password given" >&2; exit 1; }
      MARIADB_ROOT_PASSWORD=$(random)
    fi
    echo "entrypoint: initialising $datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
      --auth-root-authentication-method=normal >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 60); do
      mariadb-admin --socket=/run/mysqld/init.sock -uroot ping >/dev/null 2>&1 && break
      sleep 1
    done
    sql() { sed "s/'/''/g" <<<"$1"; }
    hc=$(random)
    mariadb --socket=/run/mysqld/init.sock -uroot <<SQL
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sql "$MARIADB_ROOT_PASSWORD")';
CREATE USER 'root'@'%' IDENTIFIED BY '$(sql "$MARIADB_ROOT_PASSWORD")';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE DATABASE \`$MARIADB_DATABASE\`;
CREATE USER '$(sql "$MARIADB_USER")'@'%' IDENTIFIED BY '$(sql "$MARIADB_PASSWORD")';
GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$(sql "$MARIADB_USER")'@'%';
CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$hc';
CREATE USER 'healthcheck'@'::1' IDENTIFIED BY '$hc';
CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$hc';
FLUSH PRIVILEGES;
SQL
    printf '[mariadb-client]\nport=3306\nsocket=/run/mysqld/mysqld.sock\nuser=healthcheck\npassword=%s\n' "$hc" \
      >"$datadir/.my-healthcheck.cnf"
    chown mysql:mysql "$datadir/.my-healthcheck.cnf"
    chmod 0600 "$datadir/.my-healthcheck.cnf"
    kill "$pid"
    wait "$pid"
    echo "entrypoint: $datadir initialised"
  fi
  exec "$@" --user=mysql
fi
exec "$@"
EOF
  chmod 0755 "$1"
}

# The official image's healthcheck.sh, reduced to --connect (a TCP connection is accepted: the
# server is past its initialisation, which runs with networking off) and --innodb_initialized.
write_healthcheck() {
  cat >"$1" <<'EOF'
#!/bin/bash
set -eo pipefail
cnf=/var/lib/mysql/.my-healthcheck.cnf
[ "$#" -gt 0 ] || { echo "healthcheck.sh: no test given" >&2; exit 1; }
for arg; do
  case $arg in
    --connect)
      out=$(mariadb --defaults-extra-file="$cnf" -h 127.0.0.1 --protocol tcp -e 'select 1' 2>&1) \
        || ! grep -qF "Can't connect" <<<"$out" || { echo "$out" >&2; exit 1; } ;;
    --innodb_initialized)
      [ "$(mariadb --defaults-extra-file="$cnf" --skip-column-names -e \
        "select 1 from information_schema.ENGINES WHERE engine='innodb' AND support in ('YES', 'DEFAULT', 'ENABLED')")" = 1 ] ;;
    *) echo "healthcheck.sh: unknown test $arg" >&2; exit 1 ;;
  esac
done
EOF
  chmod 0755 "$1"
}

# The Debian root filesystem: keyed by what goes into it, not by this script, so editing the
# entrypoint below costs a `tar -r`, not a debootstrap.
debian_base_tar() {
  local key tar work root
  key=$(printf '%s\n' "$suite" minbase mariadb-server haproxy trim-1 | sha256sum | cut -c1-16)
  tar=$cache/debian-base-$key.tar
  [ -s "$tar" ] && { printf '%s\n' "$tar"; return; }
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  log "debootstrap $suite (mariadb-server, haproxy); the .debs are cached in $cache/debs"
  mkdir -p "$cache/debs"
  rm -f "$cache"/debian-base-*.tar
  work=$(mktemp -d "$cache/debian.XXXXXX")
  root=$work/root
  debootstrap --variant=minbase --include=mariadb-server,haproxy --cache-dir="$cache/debs" \
    "$suite" "$root" "$(_mg_mirror_uri)" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  # An empty datadir: the entrypoint initialises it from the environment, as the official one does
  # (Debian's postinst made one with no users of ours; a new volume would be filled from it).
  rm -rf "${root:?}/var/lib/mysql" && mkdir -p "$root/var/lib/mysql" "$root/run/mysqld"
  chroot "$root" chown mysql:mysql /var/lib/mysql /run/mysqld
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
    "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  tar --numeric-owner -C "$root" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
    -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  # debootstrap can leave the root's /proc mounted (a package's postinst still running): never
  # walk into a live /proc with rm.
  for m in proc sys dev/pts; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  rm -rf "$work"
  printf '%s\n' "$tar"
}

debian_tar() {
  local tar=$cache/debian-$inputs.tar base work
  [ -s "$tar" ] && { printf '%s\n' "$tar"; return; }
  base=$(debian_base_tar)
  work=$(mktemp -d "$cache/overlay.XXXXXX")
  mkdir -p "$work/usr/local/bin" "$work/usr/local/etc/haproxy" "$work/etc/mysql/mariadb.conf.d"
  printf '[mariadbd]\nbind-address = 0.0.0.0\nskip-name-resolve\n' \
    >"$work/etc/mysql/mariadb.conf.d/99-container.cnf"
  write_entrypoint "$work/usr/local/bin/docker-entrypoint.sh"
  write_healthcheck "$work/usr/local/bin/healthcheck.sh"
  cp "$base" "$tar.tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$work" -rf "$tar.tmp" \
    ./usr/local/bin/docker-entrypoint.sh ./usr/local/bin/healthcheck.sh \
    ./usr/local/etc/haproxy ./etc/mysql/mariadb.conf.d/99-container.cnf
  mv "$tar.tmp" "$tar"
  rm -rf "$work"
  printf '%s\n' "$tar"
}

# ---------------------------------------------------------------- import

# ENGINE IMAGE TAR CHANGE...: import unless the engine has IMAGE built from these inputs.
import() {
  local engine=$1 image=$2 tar=$3 have args=()
  shift 3
  have=$("$engine" image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
  if [ "$have" = "$inputs" ]; then
    log "$engine: $image is up to date"
    return
  fi
  for c in "$@" "ENV $PATH_ENV" "LABEL $label=$inputs"; do args+=(--change "$c"); done
  log "$engine import $image"
  "$engine" import "${args[@]}" "$tar" "$image" >/dev/null
}

build_for() {
  local engine=$1 bb deb f
  mkdir -p "$cache"
  for f in "$cache"/busybox-*.tar "$cache"/debian-[0-9a-f]*.tar; do
    case $f in *"-$inputs.tar" | *'*'*) ;; *) rm -f "$f" ;; esac
  done
  bb=$(busybox_tar)
  import "$engine" "$BUSYBOX_IMAGE" "$bb" 'CMD ["sh"]'
  deb=$(debian_tar)
  import "$engine" "$MARIADB_IMAGE" "$deb" \
    'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["mariadbd"]' 'EXPOSE 3306'
  import "$engine" "$HAPROXY_IMAGE" "$deb" \
    'ENTRYPOINT ["haproxy", "-W", "-db"]' 'CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    'USER haproxy' 'WORKDIR /var/lib/haproxy'
}

want=${1:-all}
t0=$SECONDS
built=0
for engine in docker podman; do
  if [ "$want" != all ] && [ "$want" != "$engine" ]; then continue; fi
  if ! command -v "$engine" >/dev/null || ! "$engine" info >/dev/null 2>&1; then
    if [ "$want" = "$engine" ]; then log "$engine does not answer"; exit 1; fi
    log "$engine does not answer: skipped"
    continue
  fi
  build_for "$engine"
  built=$((built + 1))
done
[ "$built" -gt 0 ] || { log "no engine answers"; exit 1; }
log "ready in $((SECONDS - t0))s (inputs $inputs)"
