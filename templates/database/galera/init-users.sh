# shellcheck shell=bash
# init-users.sh -- /docker-entrypoint-initdb.d step of every Galera member (misp-gen renders this
# file unchanged). The official entrypoint runs it once, when it initialises an empty datadir (the
# temporary server runs with --wsrep_on=OFF): it is sourced when not executable, so it neither
# exits nor sets shell options.
#
# It creates the users the cluster logic logs in as, with passwords from secret files that are the
# same on every member: a state transfer replaces a joiner's mysql.* with its donor's, so a
# per-member user (like the official entrypoint's healthcheck@localhost, whose password lives in
# the member's own datadir) is not to be relied on, and these are identical wherever they come from.
#
# Environment (set by the renderer on every member):
#   GALERA_MONITOR_PASSWORD_FILE  file holding the password of galera_monitor@localhost (USAGE
#                                 only: reads the wsrep status for agent.pl and health.sh)
#   GALERA_SST_PASSWORD_FILE      optional; file holding the password of galera_sst@localhost, the
#                                 donor-side user of the mariabackup state transfer
#   MARIADB_ROOT_PASSWORD         set by the official entrypoint (from MARIADB_ROOT_PASSWORD_FILE)
galera_init_users() {
  local monitor sst=''
  q() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }
  monitor=$(q "$(<"${GALERA_MONITOR_PASSWORD_FILE:?GALERA_MONITOR_PASSWORD_FILE is not set}")")
  if [ -n "${GALERA_SST_PASSWORD_FILE:-}" ]; then
    sst="CREATE USER IF NOT EXISTS galera_sst@localhost IDENTIFIED BY '$(q "$(<"$GALERA_SST_PASSWORD_FILE")")';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO galera_sst@localhost;"
  fi
  MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb --protocol=socket -uroot -hlocalhost \
    --socket=/run/mysqld/mysqld.sock --database=mysql <<SQL
CREATE USER IF NOT EXISTS galera_monitor@localhost IDENTIFIED BY '$monitor';
GRANT USAGE ON *.* TO galera_monitor@localhost;
$sst
SQL
}
galera_init_users
unset -f galera_init_users
