# Sourced: sets PGMAJOR, the PostgreSQL major version crmperm is built and
# tested against, and PGBIN, its bin directory.
#   CRMPERM_PG=N          use N (must be installed, or installable by deps.sh)
#   otherwise             the newest installed server (/usr/lib/postgresql/N/bin/postgres)
#   none installed        empty: test/deps.sh then takes the newest Debian offers
PGMAJOR=${CRMPERM_PG:-$(ls -d /usr/lib/postgresql/[0-9]*/bin/postgres 2>/dev/null |
                        sed -E 's|/usr/lib/postgresql/([0-9]+)/.*|\1|' | sort -n | tail -1)}
PGBIN=/usr/lib/postgresql/$PGMAJOR/bin
export PGMAJOR PGBIN

# regress_tests [DIR]: the pg_regress tests of DIR/sql for this version, one
# name per line.  A file named *_vN_*.sql tests what PostgreSQL N added (its
# syntax does not exist before): it runs on N and later.
regress_tests() {
    local f n
    for f in "${1:-.}"/sql/*.sql; do
        n=$(basename "$f" .sql)
        case $n in crmperm--*|'*') continue ;; esac
        if [[ $n =~ _v([0-9]+)_ ]] && [ "${BASH_REMATCH[1]}" -gt "${PGMAJOR:-0}" ]; then continue; fi
        echo "$n"
    done | sort
}
