# crmperm: PGXS build, plus the two commands (make demo, make test) and make bench.

MODULE_big = crmperm
OBJS = src/crmperm.o src/cache.o src/crud.o src/scopes.o src/utility.o src/admin.o src/errors.o src/fields.o \
       src/tokens.o src/audit.o src/attach.o src/sidechannels.o src/messages.o src/tenant_admin.o \
       src/actions.o src/sharing.o src/citus.o
EXTENSION = crmperm
DATA = $(wildcard sql/crmperm--*.sql)
DOCS = $(wildcard doc/*.md)
PGFILEDESC = "crmperm - CRM-style permissions enforced inside PostgreSQL"

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-clobbered

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: test test-readme test-versions demo bench deps check-citus
deps:
	@test/deps.sh

test:
	@test/run.sh

# make test in fresh Debian 13 (PostgreSQL 17) and unstable (18) root
# filesystems made with debootstrap; make demo there too.  As root.
test-versions:
	@test/versions.sh

# The README's tour, run as written (one suite of make test).
test-readme:
	@test/run.sh readme

demo:
	@demo/run.sh

bench:
	@test/bench/run.sh

# crmperm on Citus: a coordinator and two workers on loopback.  Uses an
# installed Citus, or builds one from CITUS_TARBALL (cached outside the tree).
check-citus:
	@CITUS_TARBALL='$(CITUS_TARBALL)' test/citus/run.sh

# PostgreSQL's own regression suite with crmperm preloaded (and beside pgaudit
# and pg_stat_statements) must match a run without it.  Not part of make test.
.PHONY: check-core
check-core: install
	@test/check-core.sh
