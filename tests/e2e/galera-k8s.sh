#!/usr/bin/env bash
# tests/e2e/galera-k8s.sh -- the Kubernetes rendering of a Galera cluster, run on the Docker Engine
# as a kubelet would run it (CI has no kubelet): the rendered StatefulSet's member container and
# the endpoint Deployment's HAProxy, with the StatefulSet's own env, args and probe commands.
#
# Usage: bash tests/e2e/galera-k8s.sh   (needs the images of tests/e2e/build-images.sh and misp-gen
#                                        built: MISP_GEN_BIN, default target/debug/misp-gen)
#
# It renders tests/fixtures/cluster/three/spec.yaml with `--target kubernetes` and reads
# kubernetes/statefulset-database-member.yaml: each member runs as pod `demo-database-<i>` would
# (host name = pod name, no GALERA_SELF, GALERA_MEMBERS the headless Service's DNS names: network
# aliases here, as are the full names `...demo.svc.cluster.local` HAProxy resolves through
# resolv.conf), the ConfigMap files from kubernetes/files/ mounted read-only at the StatefulSet's
# paths, the secrets group-readable by gid 999 (fsGroup, mode 0440), the image's entrypoint with
# the StatefulSet's args. Checks: the three form a cluster with no GALERA_SELF; the readiness
# command passes on every member, the liveness command too; the endpoint's readiness command
# passes and a query through it reaches the first member; a member killed and started again
# rejoins (readiness again); the recovery Job (kubernetes/recover/) refuses while members run,
# and after kill -9 of every member elects one by position, and the members form again from it.
# Everything it makes is removed on exit. Last line:
# `galera-k8s: N passed, M failed`.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${MISP_GEN_BIN:-$repo/target/debug/misp-gen}
net=mg-galera-k8s-$$
ns=demo
headless=demo-database-headless
work=$(mktemp -d /tmp/mg-galera-k8s.XXXXXX)
passed=0 failed=0
members=(demo-database-0 demo-database-1 demo-database-2)

log() { printf 'galera-k8s: %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
is() { if [ "$1" = "$2" ]; then ok "$3"; else bad "$3: got '$1', want '$2'"; fi; }  # got want what

cleanup() {
  local rc=$?
  set +e
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    for c in "${members[@]}" endpoint; do
      printf -- '--- last log lines of %s\n' "$c"
      docker logs "$net-$c" 2>&1 | tail -n 15 | cut -c1-240
    done
  fi
  for c in "${members[@]}"; do docker rm -f "$net-$c" >/dev/null 2>&1; docker volume rm "$net-$c" >/dev/null 2>&1; done
  docker rm -f "$net-endpoint" "$net-recover" >/dev/null 2>&1
  docker network rm "$net" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$bin" ] || { log "$bin is not built (cargo build)"; exit 1; }
"$bin" render "$repo/tests/fixtures/cluster/three/spec.yaml" --target kubernetes --out "$work/out" >/dev/null 2>&1 \
  || { log "render failed"; exit 1; }
k=$work/out/kubernetes

# The member container as the StatefulSet says: image, args, env (-e lines), ConfigMap mounts.
python3 - "$k/statefulset-database-member.yaml" "$k/files" "$work" <<'PY'
import sys, yaml
sts, files, work = sys.argv[1:]
d = yaml.safe_load(open(sts))
pod = d["spec"]["template"]["spec"]
c = pod["containers"][0]
vols = {v["name"]: v for v in pod["volumes"]}
with open(f"{work}/image", "w") as f: f.write(c["image"])
with open(f"{work}/args", "w") as f: f.write("\n".join(c["args"]) + "\n")
with open(f"{work}/ready", "w") as f: f.write("\n".join(c["readinessProbe"]["exec"]["command"]) + "\n")
with open(f"{work}/live", "w") as f: f.write("\n".join(c["livenessProbe"]["exec"]["command"]) + "\n")
with open(f"{work}/opts", "w") as f:
    for e in c["env"]:
        f.write(f"-e\n{e['name']}={e['value']}\n")
    for m in c["volumeMounts"]:
        v = vols.get(m["name"])
        if v and "configMap" in v:
            f.write(f"-v\n{files}/{m['subPath']}:{m['mountPath']}:ro\n")
    f.write(f"fsgroup={pod['securityContext']['fsGroup']}\n")
    for v in vols.values():
        if "secret" in v:
            name = v["secret"]["secretName"].removeprefix("demo-").replace("-", "_")
            f.write(f"secretmode={name}:{v['secret']['defaultMode']:o}\n")
PY
image=$(<"$work/image")
mapfile -t args <"$work/args"
mapfile -t ready <"$work/ready"
mapfile -t live <"$work/live"
mapfile -t opts < <(grep -v '^fsgroup=\|^secretmode=' "$work/opts")
fsgroup=$(sed -n 's/^fsgroup=//p' "$work/opts")
if grep -q GALERA_SELF "$work/opts"; then bad "the StatefulSet sets GALERA_SELF"; else ok "the StatefulSet sets no GALERA_SELF"; fi

# The secrets as the pod sees them: /run/secrets/<name>, the volume's defaultMode, group = fsGroup.
mkdir -p "$work/secrets"
while IFS=: read -r s mode; do
  cp "$work/out/secrets/$s" "$work/secrets/$s"
  chgrp "$fsgroup" "$work/secrets/$s"
  chmod "$mode" "$work/secrets/$s"
done < <(sed -n 's/^secretmode=//p' "$work/opts")
chmod 0755 "$work/secrets"
is "$(stat -c %a "$work/secrets/galera_monitor_password")" 444 "the monitor password is 0444 (init-users.sh reads it as mysql)"

docker network create "$net" >/dev/null
start_member() {
  local m=$1
  docker run -d --name "$net-$m" --hostname "$m" --network "$net" \
    --network-alias "$m.$headless" --network-alias "$m.$headless.$ns.svc.cluster.local" \
    -v "$net-$m:/var/lib/mysql" -v "$work/secrets:/run/secrets:ro" \
    "${opts[@]}" "$image" "${args[@]}" >/dev/null
}
wait_ready() {  # member, seconds
  local m=$1 deadline=$((SECONDS + $2))
  until docker exec "$net-$m" "${ready[@]}" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

t0=$SECONDS
for m in "${members[@]}"; do start_member "$m"; done
all=1
for m in "${members[@]}"; do
  if wait_ready "$m" 240; then ok "$m ready (readiness command of the StatefulSet) after $((SECONDS - t0)) s"; else bad "$m not ready within 240 s"; all=0; fi
done
[ "$all" = 1 ] || exit 1
for m in "${members[@]}"; do
  if docker exec "$net-$m" "${live[@]}" >/dev/null 2>&1; then ok "$m alive (liveness command)"; else bad "$m: liveness command fails"; fi
done
size=$(docker exec "$net-demo-database-1" bash -c 'MYSQL_PWD=$(</run/secrets/galera_monitor_password) mariadb --no-defaults -ugalera_monitor -N -B -e "SHOW STATUS LIKE \"wsrep_cluster_size\""' | awk '{print $2}')
is "$size" 3 "wsrep_cluster_size"
name=$(docker exec "$net-demo-database-2" bash -c 'MYSQL_PWD=$(</run/secrets/galera_monitor_password) mariadb --no-defaults -ugalera_monitor -N -B -e "SELECT @@wsrep_node_name"')
is "$name" "demo-database-2.$headless" "member.sh names itself from its host name"

# The endpoint as its Deployment says: the rendered endpoint.cfg, resolving through resolv.conf.
docker run -d --name "$net-endpoint" --network "$net" \
  -v "$k/files/galera-endpoint-cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" \
  docker.io/library/haproxy:3.0.5 >/dev/null
epready=$(python3 -c "import yaml,sys; d=yaml.safe_load(open(sys.argv[1])); print(d['spec']['template']['spec']['containers'][0]['readinessProbe']['exec']['command'][2])" "$k/deployment-database-endpoint.yaml")
deadline=$((SECONDS + 60))
until docker exec "$net-endpoint" bash -c "$epready" >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 1
done
if docker exec "$net-endpoint" bash -c "$epready" >/dev/null 2>&1; then ok "endpoint ready (its readiness command)"; else bad "endpoint not ready within 60 s"; fi
via=$(docker exec -e MYSQL_PWD="$(<"$work/secrets/db_password")" "$net-demo-database-2" \
  mariadb --no-defaults -h "$net-endpoint" -uapp -N -B -e 'SELECT @@wsrep_node_name' 2>&1 || true)
is "$via" "demo-database-0.$headless" "a query through the endpoint reaches the first member"

# A member killed and started again rejoins (the StatefulSet controller would recreate the pod).
docker kill "$net-demo-database-1" >/dev/null
docker rm "$net-demo-database-1" >/dev/null
t1=$SECONDS
start_member demo-database-1
if wait_ready demo-database-1 180; then ok "demo-database-1 killed and recreated: ready again after $((SECONDS - t1)) s"; else bad "demo-database-1 did not rejoin within 180 s"; fi

# The recovery Job as kubernetes/recover/ renders it: its image, command, env and ConfigMap files,
# every member's claim (here: the member's volume) at /var/lib/galera/<member's DNS name>.
python3 - "$work/out/kubernetes/recover/job-database-recover.yaml" "$work/out/kubernetes/recover/files" "$net" >"$work/job" <<'PY'
import sys, yaml
job, files, net = sys.argv[1:]
d = yaml.safe_load(open(job))
pod = d["spec"]["template"]["spec"]
c = pod["containers"][0]
vols = {v["name"]: v for v in pod["volumes"]}
out = ["--entrypoint", c["command"][0]]
for e in c["env"]:
    out += ["-e", f"{e['name']}={e['value']}"]
for m in c["volumeMounts"]:
    v = vols[m["name"]]
    if "configMap" in v:
        out += ["-v", f"{files}/{m['subPath']}:{m['mountPath']}:ro"]
    else:
        # data-demo-database-<i> -> the member's volume (its root is the claim's data/)
        member = v["persistentVolumeClaim"]["claimName"].removeprefix("data-")
        out += ["-v", f"{net}-{member}:{m['mountPath']}"]
out.append(c["image"])
out += c["command"][1:]
print("\n".join(out))
PY
mapfile -t job <"$work/job"
run_job() { docker run --rm --name "$net-recover" --network "$net" "${job[@]}" 2>&1; }
if out=$(run_job); then
  bad "the recovery Job ran while the members run: $out"
else
  case $out in *"running (its agent answers"*) ok "the recovery Job refuses while a member runs (its agent answers through the headless name)" ;; *) bad "the recovery Job failed otherwise: $out" ;; esac
fi
docker kill "${members[@]/#/$net-}" >/dev/null
t2=$SECONDS
if out=$(run_job); then
  printf '%s\n' "$out" | sed 's/^/     /'
  case $out in *"elected demo-database-"*".$headless"*) ok "after kill -9 of every member the recovery Job elects by position" ;; *) bad "no election: $out" ;; esac
  case $out in *"Next: kubectl delete -k kubernetes/recover/ && kubectl -n $ns scale statefulset/demo-database --replicas=3"*) ok "it names the Kubernetes next step" ;; *) bad "next step: $out" ;; esac
else
  bad "the recovery Job failed after kill -9 of every member: $out"
fi
for m in "${members[@]}"; do docker rm "$net-$m" >/dev/null; start_member "$m"; done
all=1
for m in "${members[@]}"; do wait_ready "$m" 240 || { bad "$m not ready within 240 s after the recovery"; all=0; }; done
[ "$all" = 1 ] && ok "the three members ready again after the recovery ($((SECONDS - t2)) s from the outage)"
size=$(docker exec "$net-demo-database-0" bash -c 'MYSQL_PWD=$(</run/secrets/galera_monitor_password) mariadb --no-defaults -ugalera_monitor -N -B -e "SHOW STATUS LIKE \"wsrep_cluster_size\""' | awk '{print $2}')
is "$size" 3 "wsrep_cluster_size after the recovery"

log "$passed passed, $failed failed"
[ "$failed" = 0 ]
