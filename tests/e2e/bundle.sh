#!/usr/bin/env bash
# tests/e2e/bundle.sh -- an air-gapped install end to end, with real registries and the real engine.
# Run by .ci/run after `cargo test`; prints a RESULT line per check and the figures (archive size,
# the time of bundle, push and load); any FAILED makes the exit status 1.
#
#   1. Two registries: Debian's docker-registry (distribution 2.8) on 127.0.0.1, each with its own
#      generated CA and TLS certificate and htpasswd (bcrypt) auth: "upstream" and "site".
#   2. The e2e images (tests/e2e/build-images.sh) pushed to upstream with `docker push`.
#   3. `misp-gen bundle tests/e2e/stack.yaml --registry-mirror UPSTREAM` (credentials from the
#      environment, CA from --ca-file); bundled twice: byte-identical; `bundle verify` clean.
#      Then upstream is stopped and the images are removed from the engine.
#   4. `bundle push --registry SITE/site --pull always`, then Compose v5 starts the stack: every
#      image reference is the site registry's, pinned by digest; Compose pulls each from the site
#      (the engine had none); every container healthy; the page is served.
#   5. The registry-less path: the images removed again, `bundle load`, the stack rendered with
#      pull policy never started and healthy.
#   6. One byte of one layer changed in a copy of the archive: `bundle verify` and `bundle push`
#      exit 1 naming that blob, and push sends nothing.
#
#   MISP_GEN_BIN   the binary under test (default target/debug/misp-gen)
#   KEEP=1         leave the work directory (the archives, the renders) for a look
#
# Everything it starts or makes (registries, containers, volumes, images it tagged, docker logins,
# /etc/docker/certs.d entries) goes at exit, also on failure; the e2e images are put back
# (build-images.sh, from its cache) if they were removed and not loaded again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${MISP_GEN_BIN:-$repo/target/debug/misp-gen}
T0=$SECONDS
say() { printf '[bundle %4ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }

passed=0
failed=0
result() { # OK|FAILED LABEL
  printf 'RESULT %s %s\n' "$1" "$2"
  if [ "$1" = OK ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
check() { # LABEL COMMAND...
  local label=$1; shift
  if "$@"; then result OK "$label"; else result FAILED "$label"; fi
}

unavailable() {
  if [ "${CI:-}" = true ]; then
    say "cannot run under CI=true: $*"
    exit 1
  fi
  say "skipping: $*"
  exit 0
}

compose=""
for c in "${MISP_GEN_TOOLS:-$repo/target/ci-tools}/venv/bin/docker-compose" "$repo/target/ci-tools/venv/bin/docker-compose"; do
  [ -x "$c" ] && { compose=$c; break; }
done
[ -n "$compose" ] || unavailable "Compose v5 is not installed (run .ci/tools.sh)"
for t in docker /usr/bin/docker-registry htpasswd openssl curl python3; do
  command -v "$t" >/dev/null || unavailable "$t is not installed (run .ci/tools.sh)"
done
docker info >/dev/null 2>&1 || unavailable "no Docker Engine answers"
[ -x "$bin" ] || unavailable "$bin is not built (cargo build)"
IMAGES=(docker.io/library/busybox:1.35.0 docker.io/library/mariadb:10.11)
for i in "${IMAGES[@]}"; do
  docker image inspect "$i" >/dev/null 2>&1 || unavailable "the image $i is missing: run tests/e2e/build-images.sh docker"
done

work=$(mktemp -d)
pids=()
certdirs=()
logins=()
projects=()
tags=()
cleanup() {
  local rc=$?
  for p in "${projects[@]}"; do
    "$compose" -p "$p" -f "$work/$p/compose/compose.yaml" down -v --remove-orphans -t 1 >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for l in "${logins[@]}"; do docker logout "$l" >/dev/null 2>&1 || true; done
  for d in "${certdirs[@]}"; do rm -rf "$d"; done
  for t in "${tags[@]}"; do docker rmi -f "$t" >/dev/null 2>&1 || true; done
  for i in "${IMAGES[@]}"; do
    if ! docker image inspect "$i" >/dev/null 2>&1; then
      say "putting the e2e images back (build-images.sh)"
      bash "$here/build-images.sh" docker >/dev/null 2>&1 || say "build-images.sh failed: the e2e images are missing"
      break
    fi
  done
  if [ "${KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT

# stack_up PATH PROJECT: start the rendered stack of $work/PROJECT with Compose and wait until
# every container is healthy; a result line for PATH, the log and `ps -a` when it is not;
# the seconds it took in up_secs.
stack_up() {
  local what=$1 p=$2 t=$SECONDS
  local label="$what: the stack is up, every container healthy (compose up --wait)"
  if "$compose" -p "$p" -f "$work/$p/compose/compose.yaml" up -d --wait --wait-timeout 300 >"$work/up-$what.log" 2>&1; then
    result OK "$label"
  else
    result FAILED "$label"
    cat "$work/up-$what.log" >&2
    "$compose" -p "$p" -f "$work/$p/compose/compose.yaml" ps -a >&2 || true
  fi
  up_secs=$((SECONDS - t))
}

free_port() {
  python3 "$repo/.ci/free_port.py"
}

# registry NAME USER PASSWORD -> sets REG_PORT; a TLS + htpasswd registry on 127.0.0.1
registry() {
  local name=$1 user=$2 pass=$3 d=$work/$1 port i
  mkdir -p "$d/data"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=misp-gen e2e $name CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$d/tls.key" -out "$d/tls.csr" -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$d/ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
  htpasswd -Bbn "$user" "$pass" >"$d/htpasswd"
  for _ in 1 2 3; do
    port=$(free_port)
    cat >"$d/config.yml" <<EOF
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $d/data }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:$port
  tls: { certificate: $d/tls.crt, key: $d/tls.key }
auth:
  htpasswd: { realm: misp-gen-e2e, path: $d/htpasswd }
EOF
    /usr/bin/docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
    pids+=("$!")
    for i in $(seq 1 50); do   # at most 10 s
      if curl -s -o /dev/null --cacert "$d/ca.crt" "https://127.0.0.1:$port/v2/"; then
        mkdir -p "/etc/docker/certs.d/127.0.0.1:$port"
        cp "$d/ca.crt" "/etc/docker/certs.d/127.0.0.1:$port/ca.crt"
        certdirs+=("/etc/docker/certs.d/127.0.0.1:$port")
        REG_PORT=$port
        say "registry $name on 127.0.0.1:$port"
        return 0
      fi
      kill -0 "${pids[-1]}" 2>/dev/null || break
      sleep 0.2
    done
    kill "${pids[-1]}" 2>/dev/null || true
  done
  say "registry $name did not start:"; cat "$d/log" >&2
  return 1
}

# ---------------------------------------------------------------- upstream

registry upstream up-user up-pass
UP=127.0.0.1:$REG_PORT
up_pid=${pids[-1]}
echo up-pass | docker login -u up-user --password-stdin "$UP" >/dev/null 2>&1
logins+=("$UP")
for i in "${IMAGES[@]}"; do
  t=$UP/${i#docker.io/}
  docker tag "$i" "$t"
  tags+=("$t")
  docker push -q "$t" >/dev/null
done
say "pushed ${IMAGES[*]} to upstream"

# The stack under a name and port of its own.
port=$(free_port)
sed -e "s/^name: e2e-stack/name: mgbundle$$/" -e "s/publish: 18480/publish: $port/" \
  "$here/stack.yaml" >"$work/stack.yaml"

# ---------------------------------------------------------------- the connected side

declare -A digests

t=$SECONDS
MISP_GEN_REGISTRY_USER=up-user MISP_GEN_REGISTRY_PASSWORD=up-pass \
  "$bin" bundle "$work/stack.yaml" --registry-mirror "$UP" --ca-file "$work/upstream/ca.crt" \
  --out "$work/stack.bundle" 2>"$work/bundle.err" || { cat "$work/bundle.err" >&2; exit 1; }
bundle_secs=$((SECONDS - t))
size=$(stat -c %s "$work/stack.bundle")
MISP_GEN_REGISTRY_USER=up-user MISP_GEN_REGISTRY_PASSWORD=up-pass \
  "$bin" bundle "$work/stack.yaml" --registry-mirror "$UP" --ca-file "$work/upstream/ca.crt" \
  --out "$work/again.bundle" 2>/dev/null
check "bundle twice: byte-identical archives" cmp -s "$work/stack.bundle" "$work/again.bundle"
check "bundle verify: clean" "$bin" bundle verify "$work/stack.bundle"
check "bundle: progress per image on stderr" grep -q "^pulled docker.io/library/mariadb:10.11 " "$work/bundle.err"
check "bundle: no secrets/ in the archive" bash -c "! tar tf '$work/stack.bundle' | grep -q '^output/secrets/'"
check "bundle: the rendered compose file is in it" bash -c "tar tf '$work/stack.bundle' | grep -qx output/compose/compose.yaml"
# The digests in bundle.json are the ones upstream serves.
for i in "${IMAGES[@]}"; do
  repo_path=${i#docker.io/}
  digest=$(curl -s -u up-user:up-pass --cacert "$work/upstream/ca.crt" -I \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "https://$UP/v2/${repo_path%:*}/manifests/${repo_path##*:}" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
  check "bundle.json has upstream's digest of $i" bash -c "tar xOf '$work/stack.bundle' bundle.json | grep -q '\"digest\": \"$digest\"'"
  digests[$i]=$digest
done

# ---------------------------------------------------------------- across the gap

kill "$up_pid"; wait "$up_pid" 2>/dev/null || true
docker logout "$UP" >/dev/null 2>&1 || true
# -f: untag even where a stopped container still refers to the image; no name of it is left.
for i in "${IMAGES[@]}"; do docker rmi -f "$i" "$UP/${i#docker.io/}" >/dev/null; done
say "upstream stopped; ${IMAGES[*]} removed from the engine"

registry site site-user site-pass
SITE=127.0.0.1:$REG_PORT
echo site-pass | docker login -u site-user --password-stdin "$SITE" >/dev/null 2>&1
logins+=("$SITE")

# A tampered copy first: one byte of the mariadb layer changed.
cp "$work/stack.bundle" "$work/tampered.bundle"
blob=$(python3 "$repo/.ci/tampered_blob.py" "$work/tampered.bundle")
set +e
"$bin" bundle verify "$work/tampered.bundle" >"$work/verify.out" 2>"$work/verify.err"; rc=$?
set -e
check "tampered: bundle verify exits 1" test "$rc" = 1
check "tampered: bundle verify names $blob" grep -q "modified: $blob (of docker.io/library/mariadb:10.11)" "$work/verify.out"
set +e
MISP_GEN_REGISTRY_USER=site-user MISP_GEN_REGISTRY_PASSWORD=site-pass \
  "$bin" bundle push "$work/tampered.bundle" --registry "$SITE/site" --ca-file "$work/site/ca.crt" \
  --out "$work/tampered-out" 2>"$work/push-tampered.err"; rc=$?
set -e
check "tampered: bundle push exits 1" test "$rc" = 1
check "tampered: bundle push names $blob" grep -q "$blob" "$work/push-tampered.err"
check "tampered: bundle push rendered nothing" test ! -e "$work/tampered-out"
check "tampered: bundle push pushed nothing" bash -c "curl -s -u site-user:site-pass --cacert '$work/site/ca.crt' 'https://$SITE/v2/_catalog' | grep -q '\"repositories\":\[\]'"

# ---------------------------------------------------------------- the site: push, then Compose

p=mgbundle-push-$$
t=$SECONDS
MISP_GEN_REGISTRY_USER=site-user MISP_GEN_REGISTRY_PASSWORD=site-pass \
  "$bin" bundle push "$work/stack.bundle" --registry "$SITE/site" --ca-file "$work/site/ca.crt" \
  --pull always --out "$work/$p" 2>"$work/push.err" || { cat "$work/push.err" >&2; exit 1; }
push_secs=$((SECONDS - t))
projects+=("$p")
check "push: every image in compose.yaml is the site's, pinned by digest" bash -c "
  grep -E '^    image: ' '$work/$p/compose/compose.yaml' | grep -vqE '\"$SITE/site/library/[a-z]+:[0-9.]+@sha256:[0-9a-f]{64}\"' && exit 1
  grep -cE '^    image: ' '$work/$p/compose/compose.yaml' | grep -qv '^0$'"
check "push: pull_policy always" bash -c "! grep -E '^    pull_policy: ' '$work/$p/compose/compose.yaml' | grep -qv always"
check "push: no upstream or docker.io reference in any target" bash -c "! grep -rqE 'docker\.io/|$UP' '$work/$p/compose' '$work/$p/kubernetes' '$work/$p/systemd'"
check "push: misp-gen verify of the render" "$bin" verify "$work/$p"
stack_up push "$p"
up_push_secs=$up_secs
check "push: the page is served" bash -c "curl -sf 'http://127.0.0.1:$port/index.html' | grep -q 'hello from'"
for i in "${IMAGES[@]}"; do
  name=${i#docker.io/}
  check "push: $name came from the site registry, at the bundled digest" bash -c \
    "docker images --digests --format '{{.Repository}}@{{.Digest}}' | grep -qx '$SITE/site/${name%:*}@${digests[$i]}'"
done
"$compose" -p "$p" -f "$work/$p/compose/compose.yaml" down -v -t 1 >/dev/null 2>&1
check "push: down -v leaves no container" bash -c "[ -z \"\$(docker ps -aq --filter label=com.docker.compose.project=$p)\" ]"
# The pulled images go: the next path starts from an engine without them.
docker images --digests --format '{{.Repository}}@{{.Digest}}' | grep "^$SITE/" | xargs -r docker rmi -f >/dev/null

# ---------------------------------------------------------------- no registry: load, then Compose

check "load: the engine has none of the images first" bash -c "! docker image inspect ${IMAGES[*]} >/dev/null 2>&1"
p=mgbundle-load-$$
t=$SECONDS
"$bin" bundle load "$work/stack.bundle" --out "$work/$p" 2>"$work/load.err" || { cat "$work/load.err" >&2; exit 1; }
load_secs=$((SECONDS - t))
projects+=("$p")
check "load: every image is in the engine under its name" bash -c "docker image inspect ${IMAGES[*]} >/dev/null"
check "load: pull_policy never" bash -c "grep -E '^    pull_policy: ' '$work/$p/compose/compose.yaml' | grep -q never && ! grep -E '^    pull_policy: ' '$work/$p/compose/compose.yaml' | grep -qv never"
stack_up load "$p"
up_load_secs=$up_secs
check "load: the page is served" bash -c "curl -sf 'http://127.0.0.1:$port/index.html' | grep -q 'hello from'"
"$compose" -p "$p" -f "$work/$p/compose/compose.yaml" down -v -t 1 >/dev/null 2>&1

# --from-engine: the images just loaded, bundled from the engine's store, verified.
t=$SECONDS
if "$bin" bundle "$work/stack.yaml" --from-engine --out "$work/engine.bundle" 2>"$work/engine.err"; then
  result OK "bundle --from-engine"
else
  result FAILED "bundle --from-engine"
  cat "$work/engine.err" >&2
fi
engine_secs=$((SECONDS - t))
check "bundle --from-engine: verify clean" "$bin" bundle verify "$work/engine.bundle"

printf 'FIGURES archive %s bytes (%s MiB); bundle %ss, push %ss, compose up from the site registry %ss, load %ss, compose up after load %ss; --from-engine %ss (%s MiB)\n' \
  "$size" "$((size / 1048576))" "$bundle_secs" "$push_secs" "$up_push_secs" "$load_secs" "$up_load_secs" \
  "$engine_secs" "$(( $(stat -c %s "$work/engine.bundle" 2>/dev/null || echo 0) / 1048576 ))"
echo "bundle e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
