//! A pod's init containers: the one-off services it runs first, and the waits for its
//! dependencies, each a shell script run in the dependant's own image (or `wait_image`).

use std::collections::BTreeSet;

use super::Out;
use super::model::{Container, ContainerSecurity, PodVolume, Res};
use super::names::local_name;
use super::pod::{container, secs_of};
use crate::plan::container::Container as Planned;
use crate::plan::{self, Deployment};
use crate::security::numeric_user;
use crate::spec::model::{Condition, Waits};

/// How long a dependant waits for a service that has no health check, so no time of its own.
const DEFAULT_SERVICE_WAIT_S: u64 = 300;
/// Time between tries when waiting for a service.
const DEFAULT_SERVICE_WAIT_INTERVAL_S: u64 = 5;
/// The user the wait containers run as when the service names none.
const NOBODY: u64 = 65_534;

/// The script of a wait init container (free of `$(` and `$$`, which the kubelet would expand in a
/// command, so it is written as it runs). Arguments: WHAT MODE HOST PORT LIMIT EVERY, with MODE `tcp`
/// (connect to HOST:PORT) or `dns` (HOST resolves). It checks what it needs before the first try
/// and refuses at once, saying what is missing, when the image cannot wait: `date`, `expr` and
/// `sleep`; for `tcp` an `nc` that takes `-z` (tried on a closed local port: an nc without it, as
/// Debian's busybox, connects with stdin closed instead) or a bash with `/dev/tcp`; for `dns`
/// `getent` or `nslookup`. The probe's own words are kept for the give-up message.
const WAIT_SCRIPT: &str = r#"what=$1 mode=$2 host=$3 port=$4 limit=$5 every=$6
fix="give the waits an image that has them (targets.kubernetes.wait_image) or turn them off (targets.kubernetes.waits: none)"
cannot() {
  echo "misp-gen: cannot wait for $what: $*; $fix" >&2
  exit 1
}
for t in date expr sleep; do
  command -v "$t" >/dev/null 2>&1 || cannot "this image has no $t"
done
# How to probe, chosen once: a tool that is there but cannot do the job is refused now, not looped on.
how=
if [ "$mode" = dns ]; then
  if command -v getent >/dev/null 2>&1; then
    how=getent
  elif command -v nslookup >/dev/null 2>&1; then
    how=nslookup
  else
    cannot "this image has neither getent nor nslookup"
  fi
else
  if command -v nc >/dev/null 2>&1; then
    said=`nc -z -w 1 127.0.0.1 1 </dev/null 2>&1`
    case "$said" in
      *"nvalid option"*|*"llegal option"*|*"nrecognized option"*|*"nknown option"*|*"sage:"*) how=nc-w ;;
      *) how=nc-z ;;
    esac
  fi
  if [ "$how" != nc-z ] && command -v bash >/dev/null 2>&1; then
    said=`bash -c ': </dev/tcp/127.0.0.1/1' 2>&1`
    case "$said" in
      *"No such file"*) ;;
      *) how=bash ;;
    esac
  fi
  [ -n "$how" ] || cannot "this image has neither nc nor a bash with /dev/tcp"
fi
at=$host miss="does not resolve"
[ "$mode" = tcp ] && at="$host port $port" miss="is unreachable"
bound=
command -v timeout >/dev/null 2>&1 && bound="timeout 5"
probe() {
  case "$how" in
    getent) getent hosts "$host" ;;
    nslookup) nslookup "$host" ;;
    nc-z) nc -z -w 3 "$host" "$port" </dev/null ;;
    nc-w) $bound nc -w 3 "$host" "$port" </dev/null ;;
    bash) $bound bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" ;;
  esac
}
start=`date +%s`
echo "misp-gen: waiting up to ${limit}s for $what ($mode $at, with $how)"
while :; do
  said=`probe 2>&1`
  rc=$?
  [ "$rc" -eq 0 ] && break
  if [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; then
    cannot "the probe could not run ($how, exit $rc): $said"
  fi
  now=`date +%s`
  if [ `expr "$now" - "$start"` -ge "$limit" ]; then
    echo "misp-gen: gave up after ${limit}s: $what $miss ($mode $at, with $how: ${said:-no output, exit $rc}); see kubectl get pods,events" >&2
    exit 1
  fi
  sleep "$every"
done
echo "misp-gen: $what is there""#;
/// A pod's init containers: the waits for the service's dependencies, and the one-off services it
/// waits for with `completed`, each after the waits of its own dependencies. Their volumes are
/// added to `volumes`.
pub(super) fn init_containers(
    out: &mut Out<'_>,
    plan: &Deployment,
    svc: &Planned,
    main: &Container,
    volumes: &mut Vec<PodVolume>,
) -> Vec<Container> {
    let mut waited = BTreeSet::new();
    let mut init = Vec::new();
    let mut deps: Vec<(String, Condition)> = Vec::new();
    for (dep, cond) in &svc.depends_on {
        if *cond == Condition::Completed
            && let Some(d) = plan.workload(dep)
        {
            deps.extend(d.depends_on.iter().cloned());
        }
        deps.push((dep.clone(), *cond));
    }
    for (dep, cond) in deps {
        if cond == Condition::Completed {
            if let Some(d) = plan.workload(&dep) {
                let mut k = container(out, d, volumes, false);
                k.name = format!("run-{dep}");
                init.push(k);
            }
            continue;
        }
        if !waited.insert(dep.clone()) {
            continue;
        }
        if let Some(c) = wait_container(out, plan, svc, main, &dep, cond) {
            init.push(c);
        }
    }
    let mut taken: BTreeSet<String> = BTreeSet::from([main.name.clone()]);
    for c in &mut init {
        c.name = local_name(&c.name, &taken);
        taken.insert(c.name.clone());
    }
    init
}

/// An init container that waits for `dep`, or `None` when there is nothing in the cluster to wait
/// for (an external database, which the application's own retries cover, as on compose).
fn wait_container(
    out: &mut Out<'_>,
    plan: &Deployment,
    svc: &Planned,
    main: &Container,
    dep: &str,
    cond: Condition,
) -> Option<Container> {
    if plan.targets.spec.kubernetes.waits == Some(Waits::None) {
        return None;
    }
    // The workload (an external database is none: the application's own retries cover it, as
    // on compose).
    let d = plan.workload(dep)?;
    // The plan's bound, as on systemd: as long as the dependency's own check needs for its
    // verdict, or `database.wait`. A failed wait is not final here: the kubelet restarts the
    // init container.
    let (limit, every) = d.wait.map_or(
        (DEFAULT_SERVICE_WAIT_S, DEFAULT_SERVICE_WAIT_INTERVAL_S),
        |w| {
            (
                secs_of(w.total_ms),
                w.poll_ms.map_or(DEFAULT_SERVICE_WAIT_INTERVAL_S, secs_of),
            )
        },
    );
    // Waiting for the health of a workload without a port was refused on the model.
    if cond == Condition::Healthy && d.ports.is_empty() {
        return None;
    }
    let port = d.ports.first().map_or(0, |p| p.port);
    let (mode, host, port, what) = match cond {
        Condition::Healthy => (
            "tcp",
            out.naming.service(dep),
            port.to_string(),
            format!("{dep} to be healthy"),
        ),
        _ => (
            "dns",
            format!("{}-headless", out.naming.object(dep)),
            String::new(),
            format!("{dep} to start"),
        ),
    };
    // Runs as the service's own user when that is not root, else as nobody: waiting needs nothing.
    let uid = svc
        .user
        .as_deref()
        .and_then(numeric_user)
        .filter(|(u, _)| *u != 0);
    Some(Container {
        name: format!("wait-{dep}"),
        image: plan
            .targets
            .spec
            .kubernetes
            .wait_image
            .as_deref()
            .map_or_else(|| main.image.clone(), |i| plan::image_ref(i, out.mirror)),
        pull_policy: main.pull_policy,
        script: Some(WAIT_SCRIPT.to_owned()),
        args: Some(vec![
            "misp-gen-wait".into(),
            what,
            mode.into(),
            host,
            port,
            limit.to_string(),
            every.to_string(),
        ]),
        // A shell loop: a little CPU and memory, whatever the main container needs.
        resources: Some(Res {
            cpu_request: Some("10m".into()),
            cpu_limit: Some("100m".into()),
            memory_request: Some("32Mi".into()),
            memory_limit: Some("32Mi".into()),
        }),
        accept: main.accept.clone(),
        security: ContainerSecurity {
            run_as_user: Some(uid.map_or(NOBODY, |(u, _)| u)),
            run_as_group: Some(uid.map_or(Some(NOBODY), |(_, g)| g).unwrap_or(NOBODY)),
            run_as_non_root: true,
            read_only_root: true,
            allow_escalation: false,
            add: Vec::new(),
        },
        ..Container::default()
    })
}
