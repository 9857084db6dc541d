#!/bin/bash
# health.sh -- a Galera member's health, run inside the member's container (misp-gen renders this
# file unchanged and mounts it next to member.sh). Credentials: galera_monitor@localhost, whose
# password file is the same on every member (init-users.sh), never the per-member healthcheck user.
#
#   health.sh ready   exit 0 only when the member is Primary and Synced and wsrep_ready (the
#                     compose health check; Kubernetes readiness). GALERA_READY_DONOR=1 also accepts
#                     a Donor/Desynced member of a Primary Component.
#   health.sh live    exit 1 only when mariadbd runs and neither answers nor does anything a
#                     member does before it answers (state transfer, crash recovery, initialisation):
#                     never fails a member that is joining or donating (Kubernetes liveness).
#
# Environment: GALERA_MONITOR_PASSWORD_FILE (see init-users.sh), GALERA_READY_DONOR.
set -uo pipefail
q() {
  MYSQL_PWD=$(<"${GALERA_MONITOR_PASSWORD_FILE:?}") timeout 5 mariadb --no-defaults --protocol=socket \
    --socket=/run/mysqld/mysqld.sock -ugalera_monitor -N -B -e "$1"
}
case ${1:-} in
  ready)
    out=$(q "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('WSREP_CLUSTER_STATUS','WSREP_LOCAL_STATE_COMMENT','WSREP_READY')") || exit 1
    status=$(awk '$1 == "WSREP_CLUSTER_STATUS" { print $2 }' <<<"$out")
    state=$(awk '$1 == "WSREP_LOCAL_STATE_COMMENT" { print $2 }' <<<"$out")
    ready=$(awk '$1 == "WSREP_READY" { print $2 }' <<<"$out")
    if [ "$status" != Primary ] || [ "$ready" != ON ]; then
      echo "not ready: cluster status $status, wsrep_ready $ready" >&2
      exit 1
    fi
    case $state in
      Synced) exit 0 ;;
      Donor/Desynced) [ "${GALERA_READY_DONOR:-0}" = 1 ] && exit 0 ;;
    esac
    echo "not ready: $state" >&2
    exit 1
    ;;
  live)
    # Answering at all (even "access denied") is alive.
    out=$(q 'SELECT 1' 2>&1) && exit 0
    case $out in *"Access denied"* | *"ERROR 1045"*) exit 0 ;; esac
    # Not answering: alive while mariadbd is starting, recovering or in a state transfer.
    # (/proc read directly: procps is not promised in the official image.)
    procs=$(for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$f" 2>/dev/null; echo; done)
    if grep -qE 'wsrep_sst_|mariabackup|mariadb-backup|rsync|wsrep-recover|mariadb-install-db' <<<"$procs"; then exit 0; fi
    if ! grep -qE '^(/usr/sbin/)?mariadbd ' <<<"$procs"; then exit 0; fi  # the entrypoint is still on its way
    # mariadbd runs and answers nothing: only a server still opening its socket is forgiven.
    [ -S /run/mysqld/mysqld.sock ] || exit 0
    echo "not live: $out" >&2
    exit 1
    ;;
  *) echo "usage: health.sh ready|live" >&2; exit 2 ;;
esac
