#!/usr/bin/env bash
# tests/e2e/build-images.sh -- the images the end-to-end tests run, built locally from Debian packages.
#
# Usage: bash tests/e2e/build-images.sh [docker|podman|all] [IMAGE...]
#        (default: all engines that answer; every image, else only the IMAGEs named among
#        busybox mariadb haproxy redis)
#
# No registry is reachable on the project's machines, so every image the e2e specs name is made
# here: a root filesystem from Debian packages, packed as a tarball and `docker import`ed /
# `podman import`ed under the name the spec uses (the official images' names, so the renderers'
# defaults -- the mariadb health check, the HAProxy config path -- are what runs):
#
#   docker.io/library/busybox:1.35.0   Debian's busybox-static: sh, httpd, wget; a user `app`
#                                      (1000:1000) and /srv/shared owned by it
#   docker.io/library/mariadb:10.11    debootstrap --variant=minbase
#                                      --include=mariadb-server,mariadb-backup,haproxy bookworm (what
#                                      the official image installs: mariadb-server, whose Depends bring
#                                      galera-4, rsync, socat, perl, procps, iproute2; mariadb-backup;
#                                      socat), plus a small docker-entrypoint.sh and healthcheck.sh
#                                      that do what the official image's do for the MARIADB_* variables,
#                                      /docker-entrypoint-initdb.d and `healthcheck.sh --connect
#                                      --innodb_initialized --galera_online --galera_ready`; nothing
#                                      cluster-specific (the cluster logic is in rendered files)
#   docker.io/library/haproxy:3.0.5    the same root filesystem (one layer on disk), running Debian's
#                                      haproxy (2.6) as user haproxy with the official image's config
#                                      path /usr/local/etc/haproxy/haproxy.cfg
#   docker.io/library/redis:7.0        debootstrap --variant=minbase --include=redis-server,redis-sentinel
#                                      bookworm (Debian's 7.0.15, the official 7.0 tag's version):
#                                      redis-server, redis-sentinel, redis-cli on PATH, user redis
#                                      999:999 (the official image's ids), WORKDIR and VOLUME /data,
#                                      and the official 7.0 image's docker-entrypoint.sh (setpriv for
#                                      gosu); nothing replication-specific (templates/redis/replicated/
#                                      holds that)
#
# Every image carries the label org.misp-gen.e2e.inputs=<sha256 of this script>: an image with that
# label is kept as it is, so a second run takes seconds. The root filesystem tarballs are cached in
# ${MISP_GEN_E2E_CACHE:-target/e2e-images} (and the downloaded .debs under it), so importing into a
# fresh engine needs no debootstrap. Needs root (debootstrap), debootstrap and the Debian mirror.
set -euo pipefail
shopt -s inherit_errexit  # a failing $(...) (debootstrap missing) stops the build

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${MISP_GEN_E2E_CACHE:-$repo/target/e2e-images}
suite=bookworm
inputs=$(sha256sum "$0" | cut -c1-16)
label=org.misp-gen.e2e.inputs

BUSYBOX_IMAGE=docker.io/library/busybox:1.35.0
MARIADB_IMAGE=docker.io/library/mariadb:10.11
HAPROXY_IMAGE=docker.io/library/haproxy:3.0.5
REDIS_IMAGE=docker.io/library/redis:7.0
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

# The official mariadb image's entrypoint (MariaDB/mariadb-docker, 10.11/docker-entrypoint.sh),
# reduced to the interface the renderers use:
# - MARIADB_DATABASE / MARIADB_USER / MARIADB_PASSWORD / MARIADB_ROOT_PASSWORD, each also as *_FILE
#   (the path of a file that holds it), or MARIADB_RANDOM_ROOT_PASSWORD;
# - `docker-entrypoint.sh mariadbd ARGS`: an empty datadir (no mysql/) is initialised by
#   mariadb-install-db given ARGS and a temporary server "mariadbd ARGS" started with
#   --skip-networking --wsrep_on=OFF on the configured socket, which creates the users, runs
#   /docker-entrypoint-initdb.d/* (*.sh run when executable, else sourced, with docker_process_sql
#   defined; *.sql fed to the client as root) and stops; then, as user mysql when started as root
#   (the official image steps down with gosu, this one with util-linux's setpriv), exec ARGS;
# - the health-check user healthcheck@{127.0.0.1,::1,localhost} and $DATADIR/.my-healthcheck.cnf.
write_entrypoint() {
  cat >"$1" <<'EOF'
#!/bin/bash
set -eo pipefail
shopt -s nullglob
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
note() { printf '%s [Note] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
error() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; exit 1; }
random() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }
# VAR_FILE names a file that holds VAR, as the official images read it.
file_env() {
  local var=$1 file_var="${1}_FILE"
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then error "Both $var and $file_var are set"; fi
  if [ -n "${!file_var:-}" ]; then
    export "$var"="$(<"${!file_var}")"
  fi
  unset "$file_var"
}
sql_escape() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }
# docker_process_sql [--dont-use-mysql-root-password] [client args]: SQL on stdin, as root over
# the socket (the name the official entrypoint gives sourced initdb.d scripts).
docker_process_sql() {
  local pw=$MARIADB_ROOT_PASSWORD
  if [ "${1:-}" = --dont-use-mysql-root-password ]; then shift; pw=; fi
  if [ -n "${MARIADB_DATABASE:-}" ]; then set -- --database="$MARIADB_DATABASE" "$@"; fi
  MYSQL_PWD=$pw mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}
temp_server_start() {
  "$@" --skip-networking --socket="$SOCKET" --wsrep_on=OFF --expire-logs-days=0 \
    --loose-innodb_buffer_pool_load_at_startup=0 &
  MARIADB_PID=$!
  local i
  for i in {30..0}; do
    docker_process_sql --dont-use-mysql-root-password --database=mysql <<<'SELECT 1' &>/dev/null && break
    sleep 1
  done
  [ "$i" != 0 ] || error "Unable to start server."
}
init_database() {
  if [ -z "${MARIADB_ROOT_PASSWORD:-}" ]; then
    [ -n "${MARIADB_RANDOM_ROOT_PASSWORD:-}" ] || error "no root password given"
    MARIADB_ROOT_PASSWORD=$(random)
  fi
  export MARIADB_ROOT_PASSWORD
  note "Initializing database files"
  mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal "${@:2}" \
    --skip-test-db --skip-log-bin --expire-logs-days=0 >/dev/null
  note "Starting temporary server"
  temp_server_start "$@"
  local hc rp create=
  hc=$(random)
  rp=$(sql_escape "$MARIADB_ROOT_PASSWORD")
  if [ -n "${MARIADB_DATABASE:-}" ]; then create="CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"; fi
  if [ -n "${MARIADB_USER:-}" ] && [ -n "${MARIADB_PASSWORD:-}" ]; then
    create+="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      create+="GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '$MARIADB_USER'@'%';"
    fi
  fi
  docker_process_sql --dont-use-mysql-root-password --database=mysql --binary-mode <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$rp');
CREATE USER 'root'@'%' IDENTIFIED BY '$rp';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE USER healthcheck@'127.0.0.1' IDENTIFIED BY '$hc';
CREATE USER healthcheck@'::1' IDENTIFIED BY '$hc';
CREATE USER healthcheck@'localhost' IDENTIFIED BY '$hc';
SET @@SESSION.SQL_LOG_BIN=1;
$create
SQL
  (umask 0077; printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
    "$SOCKET" "$hc" >"$DATADIR/.my-healthcheck.cnf")
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        if [ -x "$f" ]; then note "running $f"; "$f"; else note "sourcing $f"; . "$f"; fi ;;
      *.sql) note "running $f"; docker_process_sql <"$f" ;;
      *) note "ignoring $f" ;;
    esac
  done
  note "Stopping temporary server"
  kill "$MARIADB_PID"
  wait "$MARIADB_PID"
  note "MariaDB init process done. Ready for start up."
}
if [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi
if [ "${1:-}" = mariadbd ]; then
  # As root, like the official one: the secrets are read before stepping down.
  file_env MARIADB_ROOT_PASSWORD; file_env MARIADB_PASSWORD
  file_env MARIADB_USER; file_env MARIADB_DATABASE
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATADIR" /run/mysqld
    find "$DATADIR" /run/mysqld -maxdepth 0 \! -user mysql -exec chown mysql: '{}' +
    exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
  if [ ! -d "$DATADIR/mysql" ]; then
    init_database "$@"
  fi
fi
exec "$@"
EOF
  chmod 0755 "$1"
}

# The official image's healthcheck.sh (MariaDB/mariadb-docker, 10.11/healthcheck.sh), reduced to
# --connect (a TCP connection is accepted: the server is past its initialisation, which runs with
# networking off), --innodb_initialized, --galera_online (wsrep_local_state = 4, Synced) and
# --galera_ready (wsrep_ready = ON), as the user of $datadir/.my-healthcheck.cnf.
write_healthcheck() {
  cat >"$1" <<'EOF'
#!/bin/bash
set -eo pipefail
cnf=/var/lib/mysql/.my-healthcheck.cnf
[ "$#" -gt 0 ] || { echo "healthcheck.sh: no test given" >&2; exit 1; }
status() {
  mariadb --defaults-extra-file="$cnf" --protocol socket --skip-column-names -B -e \
    "select VARIABLE_VALUE from information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='$1'"
}
for arg; do
  case $arg in
    --connect)
      out=$(mariadb --defaults-extra-file="$cnf" -h 127.0.0.1 --protocol tcp -e 'select 1' 2>&1) \
        || ! grep -qF "Can't connect" <<<"$out" || { echo "$out" >&2; exit 1; } ;;
    --innodb_initialized)
      [ "$(mariadb --defaults-extra-file="$cnf" --protocol socket --skip-column-names -e \
        "select 1 from information_schema.ENGINES WHERE engine='innodb' AND support in ('YES', 'DEFAULT', 'ENABLED')")" = 1 ] ;;
    --galera_online)
      [ "$(status WSREP_LOCAL_STATE)" = 4 ] || { echo "healthcheck galera_online failed" >&2; exit 1; } ;;
    --galera_ready)
      [ "$(status WSREP_READY)" = ON ] || { echo "healthcheck galera_ready failed" >&2; exit 1; } ;;
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
  key=$(printf '%s\n' "$suite" minbase mariadb-server mariadb-backup haproxy trim-1 | sha256sum | cut -c1-16)
  tar=$cache/debian-base-$key.tar
  [ -s "$tar" ] && { printf '%s\n' "$tar"; return; }
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  log "debootstrap $suite (mariadb-server, mariadb-backup, haproxy); the .debs are cached in $cache/debs"
  mkdir -p "$cache/debs"
  rm -f "$cache"/debian-base-*.tar
  work=$(mktemp -d "$cache/debian.XXXXXX")
  root=$work/root
  debootstrap --variant=minbase --include=mariadb-server,mariadb-backup,haproxy --cache-dir="$cache/debs" \
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
  mkdir -p "$work/usr/local/bin" "$work/usr/local/etc/haproxy" "$work/etc/mysql/mariadb.conf.d" \
    "$work/docker-entrypoint-initdb.d"
  printf '[mariadbd]\nbind-address = 0.0.0.0\nskip-name-resolve\n' \
    >"$work/etc/mysql/mariadb.conf.d/99-container.cnf"
  # As the official image does: /etc/mysql/conf.d (the documented mount point) is read after
  # mariadb.conf.d, so a mounted file there has the last word.
  printf '[client-server]\nsocket = /run/mysqld/mysqld.sock\n!includedir /etc/mysql/mariadb.conf.d/\n!includedir /etc/mysql/conf.d/\n' \
    >"$work/etc/mysql/mariadb.cnf"
  write_entrypoint "$work/usr/local/bin/docker-entrypoint.sh"
  write_healthcheck "$work/usr/local/bin/healthcheck.sh"
  cp "$base" "$tar.tmp"
  # docker import refuses a path twice: the replaced file leaves the copy first.
  tar --delete -f "$tar.tmp" ./etc/mysql/mariadb.cnf
  tar --numeric-owner --owner=0 --group=0 -C "$work" -rf "$tar.tmp" \
    ./usr/local/bin/docker-entrypoint.sh ./usr/local/bin/healthcheck.sh \
    ./usr/local/etc/haproxy ./etc/mysql/mariadb.conf.d/99-container.cnf ./etc/mysql/mariadb.cnf \
    ./docker-entrypoint-initdb.d
  mv "$tar.tmp" "$tar"
  rm -rf "$work"
  printf '%s\n' "$tar"
}

# The official redis image's entrypoint (docker-library/redis, 7.0/debian/docker-entrypoint.sh), as
# it is there but for gosu (util-linux's setpriv steps down instead): `-x`/`--x` or `*.conf` as the
# first argument runs redis-server with them; started as root, `redis-server ...` chowns what in
# the working directory (/data) is not redis's and steps down to user redis (other commands,
# `redis-sentinel` included, run as the user the container runs as); a umask of 0022 becomes 0077.
write_redis_entrypoint() {
  cat >"$1" <<'EOF'
#!/bin/sh
set -e

# first arg is `-f` or `--some-option`
# or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# set an appropriate umask (if one isn't set already)
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
EOF
  chmod 0755 "$1"
}

# The redis root filesystem: Debian's redis-server and redis-sentinel (7.0) on minbase, with the
# user redis moved to the official image's 999:999 (Debian's postinst takes the next free system
# id) and /data owned by it. Keyed by what goes into it, like debian_base_tar.
redis_base_tar() {
  local key tar work root uid gid
  key=$(printf '%s\n' "$suite" minbase redis-server redis-sentinel uid-999 trim-1 | sha256sum | cut -c1-16)
  tar=$cache/redis-base-$key.tar
  [ -s "$tar" ] && { printf '%s\n' "$tar"; return; }
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  log "debootstrap $suite (redis-server, redis-sentinel); the .debs are cached in $cache/debs"
  mkdir -p "$cache/debs"
  rm -f "$cache"/redis-base-*.tar
  work=$(mktemp -d "$cache/redis.XXXXXX")
  root=$work/root
  debootstrap --variant=minbase --include=redis-server,redis-sentinel --cache-dir="$cache/debs" \
    "$suite" "$root" "$(_mg_mirror_uri)" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  uid=$(chroot "$root" id -u redis)
  gid=$(chroot "$root" id -g redis)
  if [ "$uid:$gid" != 999:999 ]; then
    chroot "$root" groupmod -g 999 redis
    chroot "$root" usermod -u 999 -g 999 redis
    find "$root" -xdev \( -uid "$uid" -o -gid "$gid" \) \
      \! -path "$root/proc/*" \! -path "$root/sys/*" \! -path "$root/dev/*" \
      -exec chown -h 999:999 '{}' +
  fi
  mkdir -p "$root/data"
  chown 999:999 "$root/data"
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
    "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  tar --numeric-owner -C "$root" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
    -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  for m in proc sys dev/pts; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  rm -rf "$work"
  printf '%s\n' "$tar"
}

redis_tar() {
  local tar=$cache/redis-$inputs.tar base work
  [ -s "$tar" ] && { printf '%s\n' "$tar"; return; }
  base=$(redis_base_tar)
  work=$(mktemp -d "$cache/overlay.XXXXXX")
  mkdir -p "$work/usr/local/bin"
  write_redis_entrypoint "$work/usr/local/bin/docker-entrypoint.sh"
  cp "$base" "$tar.tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$work" -rf "$tar.tmp" ./usr/local/bin/docker-entrypoint.sh
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

# wanted NAME: NAME is among the images asked for (all when none was named).
wanted() { [ "${#images[@]}" = 0 ] || [[ " ${images[*]} " == *" $1 "* ]]; }

build_for() {
  local engine=$1 bb deb rd f
  mkdir -p "$cache"
  for f in "$cache"/busybox-*.tar "$cache"/debian-[0-9a-f]*.tar "$cache"/redis-[0-9a-f]*.tar; do
    # debian-base-KEY.tar matches debian-[0-9a-f]* too ('b' is a hex digit): it is kept, and so
    # is redis-base-KEY.tar.
    case $f in *"-$inputs.tar" | *'*'* | "$cache"/debian-base-* | "$cache"/redis-base-*) ;; *) rm -f "$f" ;; esac
  done
  if wanted busybox; then
    bb=$(busybox_tar)
    import "$engine" "$BUSYBOX_IMAGE" "$bb" 'CMD ["sh"]'
  fi
  if wanted mariadb || wanted haproxy; then
    deb=$(debian_tar)
  fi
  if wanted mariadb; then
    import "$engine" "$MARIADB_IMAGE" "$deb" \
      'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["mariadbd"]' 'EXPOSE 3306'
  fi
  if wanted haproxy; then
    import "$engine" "$HAPROXY_IMAGE" "$deb" \
      'ENTRYPOINT ["haproxy", "-W", "-db"]' 'CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
      'USER haproxy' 'WORKDIR /var/lib/haproxy'
  fi
  if wanted redis; then
    rd=$(redis_tar)
    import "$engine" "$REDIS_IMAGE" "$rd" \
      'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["redis-server"]' 'EXPOSE 6379' \
      'WORKDIR /data' 'VOLUME /data'
  fi
}

want=${1:-all}
images=("${@:2}")
for i in "${images[@]}"; do
  case $i in busybox | mariadb | haproxy | redis) ;; *) log "unknown image $i (busybox mariadb haproxy redis)"; exit 2 ;; esac
done
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
