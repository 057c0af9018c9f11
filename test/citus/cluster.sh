# Sourced by test/citus/*.sh, as the postgres user: a Citus cluster on
# loopback in $CITUS_DIR (a coordinator and workers, each its own data
# directory), every node with shared_preload_libraries = 'citus,crmperm'.
#   node_start NAME PORT   initdb (once) and start one node
#   node_stop_all          stop every node started here
#   q PORT [psql args]     psql on a node as postgres, database crm
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CITUS_DIR=${CITUS_DIR:?}
nodes=""
node_start() {
    local name=$1 port=$2 dir=$CITUS_DIR/$1
    if [ ! -d "$dir" ]; then
        $PGBIN/initdb -A trust -U postgres -D "$dir" >"$CITUS_DIR/$1.initdb.log" 2>&1 || { cat "$CITUS_DIR/$1.initdb.log"; return 1; }
        cat >> "$dir/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CITUS_DIR'
shared_preload_libraries = 'citus,crmperm'
max_prepared_transactions = 100
max_connections = 100
fsync = off
citus.node_conninfo = 'sslmode=disable'
crmperm.citus_relay_role = 'crmperm_relay'
log_min_messages = warning
log_statement = 'all'
lc_messages = 'C'
CONF
    fi
    $PGBIN/pg_ctl -s -w -D "$dir" -l "$CITUS_DIR/$name.log" start || { tail -20 "$CITUS_DIR/$name.log"; return 1; }
    nodes="$nodes $dir"
}
node_stop_all() {
    local d
    for d in $nodes; do $PGBIN/pg_ctl -s -D "$d" -m immediate stop >/dev/null 2>&1; done
    nodes=""
}
q() {
    local port=$1; shift
    $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$port" -U postgres -d crm "$@"
}
