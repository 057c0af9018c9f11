/*-------------------------------------------------------------------------
 * cache.c
 *		The per-backend decision cache: managed tables, principals and their
 *		grants, read from crmperm's catalog and kept until it changes.
 *
 * Two memory contexts, two levels (see CrmCacheContext below).  Invalidation
 * callbacks (relcache: a managed table or a crmperm catalog table changed;
 * syscache: a role or a role membership changed) only bump a counter; the
 * next lookup sees the counter moved, resets what is stale and reloads
 * lazily.
 * So no callback frees memory under a caller's feet, and a lookup that loads
 * (which takes locks, which can process invalidations) is never reset in the
 * middle.
 *
 * The catalog is read through SPI, as the bootstrap superuser, with
 * crm_cache_loading set: crmperm's hooks stand aside for those queries.  The
 * queries call SQL functions with a fixed search_path, so the session's
 * search_path changes nothing.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

#include "crmperm.h"

/* Grants of one role on one managed table. */
typedef struct CrmGrantKey
{
	Oid			roleid;
	Oid			relid;			/* the managed table (toprelid) */
} CrmGrantKey;

/* A decision, remembered until the principal's soonest expiry. */
typedef struct CrmDecisionEntry
{
	CrmGrantKey key;			/* relid: the relation decided on */
	CrmDecision d;
	TimestampTz expires;
} CrmDecisionEntry;

/* Field grants of one role on one field of a managed table. */
typedef struct CrmFieldGrant
{
	char		field[NAMEDATALEN];
	int			privileges;
	List	   *scopes[CRM_NACTIONS];	/* CrmScope entries */
} CrmFieldGrant;

typedef struct CrmGrant
{
	CrmGrantKey key;
	int			actions;
	List	   *scopes[CRM_NACTIONS];	/* CrmScope entries */
	List	   *fields;			/* CrmFieldGrant entries */
} CrmGrant;

bool		crm_cache_loading = false;

static inline bool cache_ready(void);

/*
 * Two levels.  CrmCacheContext: principals and their grants, rebuilt when
 * crmperm's catalog or a role changes.  CrmRelContext: managed relations,
 * custom scopes, decisions and built policies, also rebuilt when a managed
 * table's relcache entry is invalidated (ALTER TABLE, but also every VACUUM
 * and ANALYZE of it), which leaves the principals alone.
 */
static MemoryContext CrmCacheContext = NULL;
static MemoryContext CrmRelContext = NULL;
static uint64 inval_count = 1;	/* bumped by callbacks: everything */
static uint64 built_at = 0;		/* inval_count the cache was built at */
static uint64 rel_inval_count = 1;	/* bumped by callbacks: relations */
static uint64 rel_built_at = 0;
static uint64 catalog_changes = 1;	/* bumped by callbacks, even when stale */
static bool ext_present = false;
static List *watched = NIL;		/* OIDs of crmperm's own tables */
static HTAB *rel_hash = NULL;	/* relid -> CrmRelation */
static HTAB *principal_hash = NULL; /* roleid -> CrmPrincipal */
static HTAB *grant_hash = NULL; /* (roleid, relid) -> CrmGrant */
static List *scope_defs = NIL;	/* CrmScopeDef entries */
static List *scope_relids = NIL;	/* tables custom scopes built so far read */
static HTAB *policy_hash = NULL;	/* CrmPolicyKey -> CrmPolicy */
static HTAB *decision_hash = NULL;	/* (roleid, relid) -> CrmDecisionEntry */
static HTAB *mask_hash = NULL;	/* (roleid, relid) -> CrmMasks */
static HTAB *routine_hash = NULL;	/* funcid -> CrmRoutine */
static List *action_defs = NIL;	/* "resource.action" of every action */
static bool actions_catalog = false;	/* crmperm.actions exists (1.4) */
static bool routines_keyed = false;	/* some protected routine has a key argument */
static Oid	routine_key_fn = InvalidOid;	/* crmperm._routine_key() */
static Oid	check_fns[3];		/* by CrmCheck */
static Oid	record_keys_fn = InvalidOid;	/* crmperm._record_keys() (1.5) */
static bytea *hash_key = NULL;	/* the hash mask's key, or NULL */
static bool reads_audited = false;	/* some relation has audit_reads */

/*
 * The statement the cache was last made current in (by
 * crm_extension_active()): its transaction and start time.
 */
static LocalTransactionId current_lxid = InvalidLocalTransactionId;
static TimestampTz current_stmt = 0;

static void
crm_relcache_callback(Datum arg, Oid relid)
{
	CrmRelation *rel = (OidIsValid(relid) && rel_hash) ?
		hash_search(rel_hash, &relid, HASH_FIND, NULL) : NULL;

	/* a managed table that may have become a Citus table (citus.c) */
	if (rel && ext_present && rel->toprelid == relid && !rel->citus)
		crm_citus_note_relation(relid);
	if (!OidIsValid(relid) || !ext_present || list_member_oid(watched, relid))
		catalog_changes++;
	if (built_at != inval_count)
		return;					/* already stale */
	if (!OidIsValid(relid) || !ext_present || list_member_oid(watched, relid) ||
		list_member_oid(scope_relids, relid))
		inval_count++;
	else if (rel_built_at == rel_inval_count && rel)
		rel_inval_count++;
}

/*
 * A function changed (its owner, say): the policies built with custom scopes
 * that call it are checked again when next built (cached plans calling it
 * are invalidated by PostgreSQL itself).
 */
static void
crm_function_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (ext_present && scope_defs != NIL)
		inval_count++;
}

/* A table a custom scope reads: a change to it (its owner) rebuilds policies. */
void
crm_cache_watch_scope_relation(Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(CrmCacheContext);

	scope_relids = list_append_unique_oid(scope_relids, relid);
	MemoryContextSwitchTo(old);
}

static void
crm_role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	/*
	 * A role's attributes or memberships changed: what it inherits may have
	 * changed, and cached plans hold policies built for it.
	 */
	if (ext_present && rel_hash && hash_get_num_entries(rel_hash) > 0)
		ResetPlanCache();
	inval_count++;
	catalog_changes++;
}

void
crm_cache_init(void)
{
	CacheRegisterRelcacheCallback(crm_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, crm_function_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, crm_role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, crm_role_callback, (Datum) 0);
}

/*
 * Run one statement on crmperm's catalog as the bootstrap superuser with
 * crmperm's hooks standing aside, and expect the SPI result code expected.
 * The caller has done SPI_connect().
 */
void
crm_spi_execute(const char *sql, int nargs, Oid *argtypes, Datum *values, int expected)
{
	crm_spi_execute_nulls(sql, nargs, argtypes, values, NULL, expected);
}

/* The same, with SPI's nulls ('n': NULL; NULL: none). */
void
crm_spi_execute_nulls(const char *sql, int nargs, Oid *argtypes, Datum *values,
					  const char *nulls, int expected)
{
	Oid			save_userid;
	int			save_sec_context;
	bool		save_loading = crm_cache_loading;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	crm_cache_loading = true;
	PG_TRY();
	{
		int			rc;

		rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
		if (rc != expected)
			elog(ERROR, "crmperm catalog query failed: %s", SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		crm_cache_loading = save_loading;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

/* A catalog query with one OID argument (or none: InvalidOid). */
void
crm_spi_query(const char *sql, Oid arg)
{
	Oid			argtype = OIDOID;
	Datum		value = ObjectIdGetDatum(arg);

	crm_spi_execute(sql, OidIsValid(arg) ? 1 : 0, &argtype, &value, SPI_OK_SELECT);
}

static char *
spi_text(HeapTuple tup, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NULL : MemoryContextStrdup(CrmCacheContext, TextDatumGetCString(d));
}

static void
spi_name(HeapTuple tup, int col, NameData *dst)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, col, &isnull);

	if (isnull)
		NameStr(*dst)[0] = '\0';
	else
		namestrcpy(dst, NameStr(*DatumGetName(d)));
}

static List *
spi_text_array(HeapTuple tup, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, col, &isnull);

	return crm_text_array_list(d, isnull, CrmCacheContext);
}

/* The non-NULL elements of a text[] datum (NIL for NULL), as strings in cxt. */
List *
crm_text_array_list(Datum d, bool isnull, MemoryContext cxt)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;
	MemoryContext old;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	old = MemoryContextSwitchTo(cxt);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * The actions of every resource (1.4): the CRUD actions each managed table
 * has (before 1.4: all four), every action's name, the protected routines.
 */
static void
load_actions(void)
{
	HASH_SEQ_STATUS status;
	CrmRelation *rel;
	MemoryContext old;

	crm_spi_query("SELECT pg_catalog.to_regclass('crmperm.actions') IS NOT NULL", InvalidOid);
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&(bool){false})))
		return;
	actions_catalog = true;

	hash_seq_init(&status, rel_hash);
	while ((rel = hash_seq_search(&status)) != NULL)
		rel->actions = 0;
	crm_spi_query("SELECT resource, action FROM crmperm.actions", InvalidOid);
	old = MemoryContextSwitchTo(CrmRelContext);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *resource = spi_text(SPI_tuptable->vals[i], 1);
		char	   *action = spi_text(SPI_tuptable->vals[i], 2);
		int			bit = crm_crud_action_bit(action);

		action_defs = lappend(action_defs, psprintf("%s.%s", resource, action));
		if (bit == 0)
			continue;
		hash_seq_init(&status, rel_hash);
		while ((rel = hash_seq_search(&status)) != NULL)
			if (strcmp(rel->resource, resource) == 0)
				rel->actions |= bit;
	}
	MemoryContextSwitchTo(old);

	crm_spi_query("SELECT routine::pg_catalog.oid, resource, action, coalesce(key_argument, 0),"
				  " 'crmperm._routine_key(text,anyelement)'::pg_catalog.regprocedure::pg_catalog.oid"
				  " FROM crmperm.routines", InvalidOid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			funcid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1, &isnull));
		CrmRoutine *r = hash_search(routine_hash, &funcid, HASH_ENTER, NULL);

		r->hashvalue = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(funcid));
		strlcpy(r->resource, spi_text(SPI_tuptable->vals[i], 2), NAMEDATALEN);
		strlcpy(r->action, spi_text(SPI_tuptable->vals[i], 3), NAMEDATALEN);
		r->key_argument = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 4, &isnull));
		routines_keyed |= r->key_argument > 0;
		routine_key_fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 5, &isnull));
	}
}

static void
load_relations(void)
{
	MemoryContext old;

	SPI_connect();
	crm_spi_query("SELECT c.oid FROM pg_catalog.pg_class c"
				  " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
				  " WHERE n.nspname OPERATOR(pg_catalog.=) 'crmperm'"
				  " AND c.relkind OPERATOR(pg_catalog.=) 'r'", InvalidOid);
	old = MemoryContextSwitchTo(CrmRelContext);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		watched = lappend_oid(watched,
							  DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull)));
	}
	MemoryContextSwitchTo(old);

	/* relowner: the managed table's owner, the one exempt on its partitions */
	crm_spi_query("SELECT m.relid, m.resource, c.relowner, m.sensitive, m.owner_column,"
				  " m.team_column, m.department_column, m.tenant_column, c.oid"
				  " FROM crmperm._managed_relations() m"
				  " JOIN crmperm.resources r ON r.resource OPERATOR(pg_catalog.=) m.resource"
				  " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.tbl::pg_catalog.oid",
				  InvalidOid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		CrmRelation *rel;
		char	   *resource = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));

		rel = hash_search(rel_hash, &relid, HASH_ENTER, NULL);
		memset(((char *) rel) + sizeof(Oid), 0, sizeof(CrmRelation) - sizeof(Oid));
		strlcpy(rel->resource, resource, NAMEDATALEN);
		rel->relowner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		rel->sensitive = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		spi_name(tup, 5, &rel->owner_column);
		spi_name(tup, 6, &rel->team_column);
		spi_name(tup, 7, &rel->department_column);
		spi_name(tup, 8, &rel->tenant_column);
		rel->toprelid = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
		rel->actions = CRM_READ | CRM_CREATE | CRM_UPDATE | CRM_DELETE;
		rel->citus = crm_citus_table(relid);
	}

	load_actions();

	/* tables whose reads are audited (crmperm 1.1) */
	crm_spi_query("SELECT r.resource FROM crmperm.resources r"
				  " WHERE EXISTS (SELECT FROM pg_catalog.pg_attribute a"
				  "  WHERE a.attrelid OPERATOR(pg_catalog.=) 'crmperm.resources'::pg_catalog.regclass"
				  "  AND a.attname OPERATOR(pg_catalog.=) 'audit_reads')"
				  " AND (pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.->>) 'audit_reads')::boolean",
				  InvalidOid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *resource = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 1, &isnull));
		HASH_SEQ_STATUS status;
		CrmRelation *rel;

		hash_seq_init(&status, rel_hash);
		while ((rel = hash_seq_search(&status)) != NULL)
			if (strcmp(rel->resource, resource) == 0)
				rel->audit_reads = true;
		reads_audited = true;
	}

	crm_spi_query("SELECT 'crmperm._in_scope(boolean,text,text,text)'::pg_catalog.regprocedure,"
				  " 'crmperm._in_tenant(boolean,text,text,text)'::pg_catalog.regprocedure,"
				  " 'crmperm._field_in_scope(boolean,text,text,text)'::pg_catalog.regprocedure,"
				  " (SELECT key FROM crmperm.secret)", InvalidOid);
	{
		bool		isnull;
		Datum		key;

		for (int i = 0; i < lengthof(check_fns); i++)
			check_fns[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, i + 1, &isnull));
		key = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		if (!isnull)
		{
			old = MemoryContextSwitchTo(CrmRelContext);
			hash_key = DatumGetByteaPCopy(key);
			MemoryContextSwitchTo(old);
		}
	}

	/* protected fields, per relation (attnos differ between partitions) */
	crm_spi_query("SELECT m.relid, a.attnum, f.field, f.mask, f.readonly"
				  " FROM crmperm._managed_relations() m"
				  " JOIN crmperm.fields f ON f.resource OPERATOR(pg_catalog.=) m.resource"
				  " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) m.relid"
				  "  AND a.attname OPERATOR(pg_catalog.=) f.field AND NOT a.attisdropped"
				  " ORDER BY m.relid, a.attnum", InvalidOid);
	old = MemoryContextSwitchTo(CrmRelContext);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		CrmRelation *rel = hash_search(rel_hash, &relid, HASH_FIND, NULL);
		CrmField   *field = palloc0(sizeof(CrmField));

		field->attno = DatumGetInt16(SPI_getbinval(tup, desc, 2, &isnull));
		strlcpy(field->name, NameStr(*DatumGetName(SPI_getbinval(tup, desc, 3, &isnull))),
				NAMEDATALEN);
		strlcpy(field->mask, TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull)),
				sizeof(field->mask));
		field->readonly = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		if (rel)
			rel->fields = lappend(rel->fields, field);
	}
	MemoryContextSwitchTo(old);

	/* parents, and the resources with shared rows (crmperm 1.5) */
	crm_spi_query("SELECT pg_catalog.to_regclass('crmperm.parents') IS NOT NULL", InvalidOid);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
								   &(bool){false})))
	{
		crm_spi_query("SELECT 'crmperm._record_keys(text,text,text,oid,boolean)'::pg_catalog.regprocedure",
					  InvalidOid);
		record_keys_fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &(bool){false}));
		crm_spi_query("SELECT resource, parent, fk_columns::pg_catalog.text[], false"
					  " FROM crmperm.parents UNION ALL"
					  " SELECT resource, NULL, NULL, true FROM crmperm.shared_resources",
					  InvalidOid);
		old = MemoryContextSwitchTo(CrmRelContext);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			char	   *resource = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1,
																	 &isnull));
			bool		shared = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull));
			HASH_SEQ_STATUS status;
			CrmRelation *rel;

			hash_seq_init(&status, rel_hash);
			while ((rel = hash_seq_search(&status)) != NULL)
			{
				if (strcmp(rel->resource, resource) != 0)
					continue;
				if (shared)
					rel->shared = true;
				else
				{
					Datum		columns = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);

					strlcpy(rel->parent, TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc,
																		   2, &isnull)),
							NAMEDATALEN);
					rel->fk_columns = crm_text_array_list(columns, isnull, CrmRelContext);
				}
			}
		}
		MemoryContextSwitchTo(old);
	}

	/* custom scopes, parsed once (they were validated when defined) */
	crm_spi_query("SELECT resource, scope, predicate FROM crmperm.scopes", InvalidOid);
	old = MemoryContextSwitchTo(CrmRelContext);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		CrmScopeDef *def = palloc0(sizeof(CrmScopeDef));

		strlcpy(def->resource, TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull)),
				NAMEDATALEN);
		strlcpy(def->name, TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
				NAMEDATALEN);
		def->raw = crm_parse_predicate(TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)));
		scope_defs = lappend(scope_defs, def);
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
}

static HTAB *
cache_hash(const char *name, Size keysize, Size entrysize, MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.hcxt = cxt;
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * Empty the relation level and load it again (a failure leaves the whole
 * cache to be rebuilt at the next lookup).
 */
static void
reload_relations(void)
{
	MemoryContextReset(CrmRelContext);
	watched = NIL;
	scope_defs = NIL;
	hash_key = NULL;
	reads_audited = false;
	rel_built_at = rel_inval_count;
	rel_hash = cache_hash("crmperm relations", sizeof(Oid), sizeof(CrmRelation), CrmRelContext);
	decision_hash = cache_hash("crmperm decisions", sizeof(CrmGrantKey),
							   sizeof(CrmDecisionEntry), CrmRelContext);
	policy_hash = cache_hash("crmperm policies", sizeof(CrmPolicyKey), sizeof(CrmPolicy),
							 CrmRelContext);
	mask_hash = cache_hash("crmperm masks", sizeof(CrmGrantKey), sizeof(CrmMasks),
						   CrmRelContext);
	routine_hash = cache_hash("crmperm routines", sizeof(Oid), sizeof(CrmRoutine),
							  CrmRelContext);
	action_defs = NIL;
	actions_catalog = false;
	routines_keyed = false;
	routine_key_fn = InvalidOid;
	record_keys_fn = InvalidOid;
	if (!ext_present)
		return;
	PG_TRY();
	{
		load_relations();
	}
	PG_CATCH();
	{
		inval_count++;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Make the cache current: reset and reload what is stale. */
static void
cache_ensure(void)
{
	Oid			extoid;

	if (built_at == inval_count)
	{
		if (rel_built_at != rel_inval_count && ext_present)
			reload_relations();
		return;
	}

	if (CrmCacheContext == NULL)
	{
		CrmCacheContext = AllocSetContextCreate(CacheMemoryContext, "crmperm cache",
												ALLOCSET_DEFAULT_SIZES);
		CrmRelContext = AllocSetContextCreate(CacheMemoryContext, "crmperm relations",
											  ALLOCSET_DEFAULT_SIZES);
	}
	MemoryContextReset(CrmCacheContext);
	scope_relids = NIL;
	built_at = inval_count;
	principal_hash = cache_hash("crmperm principals", sizeof(Oid), sizeof(CrmPrincipal),
								CrmCacheContext);
	grant_hash = cache_hash("crmperm grants", sizeof(CrmGrantKey), sizeof(CrmGrant),
							CrmCacheContext);

	/*
	 * While CREATE / ALTER EXTENSION crmperm runs its script, the catalog is
	 * incomplete: stand aside, and start over when it is done.
	 */
	extoid = get_extension_oid("crmperm", true);
	if (creating_extension && CurrentExtensionObject == extoid)
	{
		inval_count++;
		extoid = InvalidOid;
	}
	ext_present = OidIsValid(extoid);
	reload_relations();
}

/*
 * Does this database manage anything?  False while crmperm reads its own
 * catalog, outside a transaction, and where the extension is not installed:
 * then every hook stands aside.
 */
bool
crm_extension_active(void)
{
	if (crm_cache_loading || !IsTransactionState())
		return false;
	cache_ensure();
	current_lxid = CRM_MY_LXID;
	current_stmt = GetCurrentStatementStartTimestamp();
	return ext_present && hash_get_num_entries(rel_hash) > 0;
}

/*
 * crm_extension_active() for executor-time decisions (ExecutorCheckPerms):
 * when this statement already made the cache current -- its parse, rewrite
 * (row security policies) and plan hooks did -- the cache is used as it was
 * then, not reloaded for an invalidation that arrived since (while the
 * planner waited for a lock, say).  So one statement decides its policies
 * and its CRUD check from one state of the catalog.  That state is never
 * older than the statement's own start: a plan cached earlier is replanned by
 * PostgreSQL when the catalog changes (every change invalidates every
 * managed table), and its next statement makes the cache current again.
 */
bool
crm_extension_active_as_planned(void)
{
	return crm_catalog_present() && hash_get_num_entries(rel_hash) > 0;
}

/*
 * Is crmperm installed here, whether or not it manages a table (application
 * permissions and protected routines need none)?  Made current as
 * crm_extension_active_as_planned() does: at most once per statement.
 */
bool
crm_catalog_present(void)
{
	if (crm_cache_loading || !IsTransactionState())
		return false;
	if (!(rel_hash != NULL && current_lxid == CRM_MY_LXID &&
		  current_stmt == GetCurrentStatementStartTimestamp()))
		crm_extension_active();
	return cache_ready();
}

/*
 * Does some managed relation have audit_reads()?  Without making the cache
 * current: for ExecutorEnd, which may run without a snapshot, where reading
 * the catalog is not possible; it sees the cache as the statement's start
 * left it.
 */
bool
crm_reads_audited(void)
{
	return reads_audited && !crm_cache_loading && IsTransactionState() && ext_present &&
		rel_hash != NULL;
}

/*
 * Changes whenever crmperm's catalog (or a role) changed, as far as this
 * backend has processed invalidations: what was read from the catalog at
 * another version must be read again.  Without making the cache current:
 * executor-time callers (a token's validity) must not change the state the
 * statement decides from.
 */
uint64
crm_catalog_version(void)
{
	return catalog_changes;
}

/*
 * The lookups below never reset the cache: a hook calls
 * crm_extension_active() once when it starts, and the pointers it gets from
 * then on stay valid until it returns.  (Loading a principal can process
 * invalidations; they only take effect at the next crm_extension_active().)
 */
static inline bool
cache_ready(void)
{
	return ext_present && rel_hash != NULL && !crm_cache_loading;
}

/* The managed table (or partition of one) with this OID, or NULL. */
const CrmRelation *
crm_relation(Oid relid)
{
	if (!cache_ready())
		return NULL;
	return hash_search(rel_hash, &relid, HASH_FIND, NULL);
}

const CrmRelation *
crm_relation_by_resource(const char *resource)
{
	HASH_SEQ_STATUS status;
	CrmRelation *rel;

	if (!cache_ready())
		return NULL;
	hash_seq_init(&status, rel_hash);
	while ((rel = hash_seq_search(&status)) != NULL)
	{
		if (rel->relid == rel->toprelid && strcmp(rel->resource, resource) == 0)
		{
			hash_seq_term(&status);
			return rel;
		}
	}
	return NULL;
}

Oid
crm_check_function(CrmCheck which)
{
	return check_fns[which];
}

/* The hash mask's key, or NULL when no field has been protected with it. */
const bytea *
crm_hash_key(void)
{
	return cache_ready() ? hash_key : NULL;
}

/*
 * The read masks of a role on a relation; built is false for a new entry,
 * which the caller fills (in crm_cache_memory()).  Valid until the next hook
 * entry.
 */
CrmMasks *
crm_masks_entry(Oid roleid, Oid relid)
{
	CrmGrantKey key;
	CrmMasks   *entry;
	bool		found;

	key.roleid = roleid;
	key.relid = relid;
	entry = hash_search(mask_hash, &key, HASH_ENTER, &found);
	if (!found)
	{
		entry->built = false;
		entry->tlist = NIL;
		entry->hassublinks = false;
	}
	return entry;
}

/* Where cached policies live: valid until the next hook entry resets it. */
MemoryContext
crm_cache_memory(void)
{
	return CrmRelContext;
}

/* Start over at the next hook entry (after a failed build, say). */
void
crm_cache_invalidate(void)
{
	inval_count++;
}

/*
 * The cached policy of a role on a relation for an action; *found is false
 * for a new entry, which the caller fills (nodes in crm_cache_memory()).
 * Valid until the next hook entry.
 */
CrmPolicy *
crm_policy_entry(Oid roleid, Oid relid, int action, bool restrictive, bool *found)
{
	CrmPolicyKey key;

	memset(&key, 0, sizeof(key));
	key.roleid = roleid;
	key.relid = relid;
	key.action = action;
	key.restrictive = restrictive;
	return hash_search(policy_hash, &key, HASH_ENTER, found);
}

/* The custom scope with this name on a resource, or NULL. */
const CrmScopeDef *
crm_scope_def(const char *resource, const char *name)
{
	ListCell   *lc;

	if (!cache_ready())
		return NULL;
	foreach(lc, scope_defs)
	{
		CrmScopeDef *def = lfirst(lc);

		if (strcmp(def->resource, resource) == 0 && strcmp(def->name, name) == 0)
			return def;
	}
	return NULL;
}

List *
crm_managed_relids(void)
{
	HASH_SEQ_STATUS status;
	CrmRelation *rel;
	List	   *result = NIL;

	if (!cache_ready())
		return NIL;
	hash_seq_init(&status, rel_hash);
	while ((rel = hash_seq_search(&status)) != NULL)
		result = lappend_oid(result, rel->relid);
	return result;
}

/*
 * Does the resource have this action (any action, when action is NULL)?
 * Before 1.4 a managed table has read, create, update and delete.
 */
bool
crm_action_defined(const char *resource, const char *action)
{
	ListCell   *lc;
	size_t		len = strlen(resource);

	if (!cache_ready())
		return false;
	if (!actions_catalog)
		return crm_relation_by_resource(resource) != NULL &&
			(action == NULL || crm_crud_action_bit(action) != 0);
	foreach(lc, action_defs)
	{
		const char *def = lfirst(lc);

		if (strncmp(def, resource, len) == 0 && def[len] == '.' &&
			(action == NULL || strcmp(def + len + 1, action) == 0))
			return true;
	}
	return false;
}

bool
crm_resource_defined(const char *resource)
{
	return crm_action_defined(resource, NULL);
}

/* The protection of a routine, or NULL. */
const CrmRoutine *
crm_routine(Oid funcid)
{
	if (!cache_ready())
		return NULL;
	return hash_search(routine_hash, &funcid, HASH_FIND, NULL);
}

/* Does some protected routine name its row by an argument? */
bool
crm_routines_keyed(void)
{
	return cache_ready() && routines_keyed;
}

Oid
crm_routine_key_function(void)
{
	return routine_key_fn;
}

/* crmperm._record_keys(), or InvalidOid before 1.5. */
Oid
crm_record_keys_function(void)
{
	return record_keys_fn;
}

/*
 * Does a plan call a protected routine (or did it inline one)?  By the
 * plan's invalidation items, which name every user function it uses.
 */
bool
crm_routines_among(List *invalItems)
{
	ListCell   *lc;

	if (!cache_ready() || hash_get_num_entries(routine_hash) == 0)
		return false;
	foreach(lc, invalItems)
	{
		PlanInvalItem *item = lfirst(lc);
		HASH_SEQ_STATUS status;
		CrmRoutine *r;

		if (item->cacheId != PROCOID)
			continue;
		hash_seq_init(&status, routine_hash);
		while ((r = hash_seq_search(&status)) != NULL)
			if (r->hashvalue == item->hashValue)
			{
				hash_seq_term(&status);
				return true;
			}
	}
	return false;
}

static int
system_bit(const char *name)
{
	if (strcmp(name, "export") == 0)
		return CRM_SYS_EXPORT;
	if (strcmp(name, "bulk") == 0)
		return CRM_SYS_BULK;
	if (strcmp(name, "manage_permissions") == 0)
		return CRM_SYS_MANAGE_PERMISSIONS;
	if (strcmp(name, "share") == 0)
		return CRM_SYS_SHARE;
	if (strcmp(name, "manage_tokens") == 0)
		return CRM_SYS_MANAGE_TOKENS;
	if (strcmp(name, "view_audit") == 0)
		return CRM_SYS_VIEW_AUDIT;
	elog(ERROR, "unexpected crmperm system permission \"%s\"", name);
	return 0;
}

int
crm_action_index(int action)
{
	switch (action)
	{
		case CRM_READ:
			return 0;
		case CRM_CREATE:
			return 1;
		case CRM_UPDATE:
			return 2;
		case CRM_DELETE:
			return 3;
	}
	elog(ERROR, "unexpected crmperm action bit %d", action);
	return 0;
}

/* Add a scope to an action's list; the same scope twice counts until the later end. */
static void
add_scope(List **scopes, const char *name, TimestampTz until)
{
	ListCell   *lc;
	CrmScope   *s;
	MemoryContext old;

	foreach(lc, *scopes)
	{
		s = lfirst(lc);
		if (strcmp(s->name, name) == 0)
		{
			s->until = Max(s->until, until);
			return;
		}
	}
	old = MemoryContextSwitchTo(CrmCacheContext);
	s = palloc(sizeof(CrmScope));
	strlcpy(s->name, name, NAMEDATALEN);
	s->until = until;
	*scopes = lappend(*scopes, s);
	MemoryContextSwitchTo(old);
}

/* Does a scope list (of a decision) reach every row right now? */
bool
crm_scopes_include_all(List *scopes)
{
	ListCell   *lc;

	if (scopes == NIL)
		return true;
	foreach(lc, scopes)
		if (strcmp(((CrmScope *) lfirst(lc))->name, "all") == 0)
			return true;
	return false;
}

/* The field grant entry of a grant, added on first use. */
static CrmFieldGrant *
field_grant(CrmGrant *g, const char *field)
{
	ListCell   *lc;
	CrmFieldGrant *fg;
	MemoryContext old;

	foreach(lc, g->fields)
	{
		fg = lfirst(lc);
		if (strcmp(fg->field, field) == 0)
			return fg;
	}
	old = MemoryContextSwitchTo(CrmCacheContext);
	fg = palloc0(sizeof(CrmFieldGrant));
	strlcpy(fg->field, field, NAMEDATALEN);
	g->fields = lappend(g->fields, fg);
	MemoryContextSwitchTo(old);
	return fg;
}

/* Per action: a scope list holding "all" without an end becomes NIL (every row). */
static void
widest_scopes(List **scopes)
{
	for (int i = 0; i < CRM_NACTIONS; i++)
	{
		ListCell   *sc;

		foreach(sc, scopes[i])
		{
			CrmScope   *s = lfirst(sc);

			if (strcmp(s->name, "all") == 0 && s->until == DT_NOEND)
			{
				scopes[i] = NIL;
				break;
			}
		}
	}
}

/* An action beyond CRUD ("orders.refund") held with a scope until a time. */
static void
add_action_grant(CrmPrincipal *p, const char *name, const char *scope, TimestampTz until)
{
	const char *dot = strchr(name, '.');
	CrmActionGrant *ag = NULL;
	ListCell   *lc;

	if (dot == NULL)
		elog(ERROR, "unexpected crmperm action \"%s\"", name);
	foreach(lc, p->actions)
	{
		CrmActionGrant *x = lfirst(lc);

		if (strncmp(x->resource, name, dot - name) == 0 && x->resource[dot - name] == '\0' &&
			strcmp(x->action, dot + 1) == 0)
			ag = x;
	}
	if (ag == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(CrmCacheContext);

		ag = palloc0(sizeof(CrmActionGrant));
		strlcpy(ag->resource, name, Min(dot - name + 1, NAMEDATALEN));
		strlcpy(ag->action, dot + 1, NAMEDATALEN);
		p->actions = lappend(p->actions, ag);
		MemoryContextSwitchTo(old);
	}
	add_scope(&ag->scopes, scope, until);
}

/* Read one role's grants and attributes into the cache. */
static CrmPrincipal *
load_principal(Oid roleid)
{
	CrmPrincipal p;
	CrmPrincipal *entry;
	List	   *grants = NIL;
	ListCell   *lc;

	memset(&p, 0, sizeof(p));
	p.roleid = roleid;
	p.superuser = superuser_arg(roleid);
	p.expires = DT_NOEND;

	SPI_connect();
	crm_spi_query("SELECT kind, relid, name, scope, valid_until, field"
				  " FROM crmperm._principal_rules($1)", roleid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char		kind = DatumGetChar(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *name = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		Datum		until_d = SPI_getbinval(tup, desc, 5, &isnull);
		TimestampTz until = isnull ? DT_NOEND : DatumGetTimestampTz(until_d);
		CrmGrantKey key;
		CrmGrant   *g;
		bool		found;
		int			bit;
		char	   *scope;

		p.expires = Min(p.expires, until);
		if (kind == 's')
		{
			p.system |= system_bit(name);
			continue;
		}

		scope = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
		if (kind == 'a')
		{
			add_action_grant(&p, name, scope, until);
			continue;
		}
		bit = crm_crud_action_bit(name);
		if (bit == 0)
			elog(ERROR, "unexpected crmperm action \"%s\"", name);
		key.roleid = roleid;
		key.relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		g = hash_search(grant_hash, &key, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) g) + sizeof(key), 0, sizeof(CrmGrant) - sizeof(key));
			grants = lappend(grants, g);
		}
		if (kind == 'o')
		{
			g->actions |= bit;
			add_scope(&g->scopes[crm_action_index(bit)], scope, until);
		}
		else
		{
			CrmFieldGrant *fg = field_grant(g, NameStr(*DatumGetName(SPI_getbinval(tup, desc, 6, &isnull))));

			fg->privileges |= bit;
			add_scope(&fg->scopes[crm_action_index(bit)], scope, until);
		}
	}

	/* "all" without an end is the widest scope: the others do not matter. */
	foreach(lc, grants)
	{
		CrmGrant   *g = lfirst(lc);
		ListCell   *fc;

		widest_scopes(g->scopes);
		foreach(fc, g->fields)
			widest_scopes(((CrmFieldGrant *) lfirst(fc))->scopes);
	}
	list_free(grants);

	crm_spi_query("SELECT user_id, team_ids, department_ids, tenant_id, super_admin"
				  " FROM crmperm._principal_attributes($1)", roleid);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		bool		isnull;

		p.user_id = spi_text(tup, 1);
		p.team_ids = spi_text_array(tup, 2);
		p.department_ids = spi_text_array(tup, 3);
		p.tenant_id = spi_text(tup, 4);
		p.super_admin = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 5, &isnull));
	}
	/* the CRM roles it holds, for rows shared with a role */
	crm_spi_query("SELECT pg_catalog.array_agg(DISTINCT x.r)::pg_catalog.text[], pg_catalog.min(x.u)"
				  " FROM (SELECT s.via_role, s.valid_until FROM crmperm._effective_sets($1) s"
				  "  WHERE s.via_role IS NOT NULL"
				  "  UNION ALL SELECT a.role, a.valid_until FROM crmperm.role_assignments a"
				  "  WHERE a.principal OPERATOR(pg_catalog.=) $1::pg_catalog.regrole"
				  "  AND (a.valid_until IS NULL"
				  "   OR a.valid_until OPERATOR(pg_catalog.>) pg_catalog.statement_timestamp()))"
				  " x(r, u)", roleid);
	p.roles = spi_text_array(SPI_tuptable->vals[0], 1);
	{
		bool		isnull;
		Datum		until = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (!isnull)
			p.expires = Min(p.expires, DatumGetTimestampTz(until));
	}
	SPI_finish();

	entry = hash_search(principal_hash, &roleid, HASH_ENTER, NULL);
	memcpy(entry, &p, sizeof(p));
	return entry;
}

/*
 * Remove the entries of one role from a hash whose keys start with the
 * role's OID (principals, grants, decisions, policies).
 */
static void
forget_role_entries(HTAB *hash, Oid roleid)
{
	HASH_SEQ_STATUS status;
	void	   *entry;

	hash_seq_init(&status, hash);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (*(Oid *) entry == roleid)
			hash_search(hash, entry, HASH_REMOVE, NULL);
}

/* Forget one role's principal entry, grants, decisions and policies. */
static void
forget_principal(Oid roleid)
{
	StaticAssertStmt(offsetof(CrmPrincipal, roleid) == 0 &&
					 offsetof(CrmGrant, key.roleid) == 0 &&
					 offsetof(CrmDecisionEntry, key.roleid) == 0 &&
					 offsetof(CrmPolicy, key.roleid) == 0 &&
					 offsetof(CrmMasks, roleid) == 0,
					 "crmperm cache keys must start with the role");
	forget_role_entries(principal_hash, roleid);
	forget_role_entries(grant_hash, roleid);
	forget_role_entries(decision_hash, roleid);
	forget_role_entries(policy_hash, roleid);
	forget_role_entries(mask_hash, roleid);
}

/*
 * The cached principal for a role, loading it on first use.  An assignment
 * whose valid_until has passed stops counting at that moment: the role is
 * reloaded, cached plans are replanned, and other roles are reloaded at the
 * next statement.
 */
const CrmPrincipal *
crm_principal(Oid roleid)
{
	CrmPrincipal *p;

	if (!cache_ready())
		return NULL;
	p = hash_search(principal_hash, &roleid, HASH_FIND, NULL);
	if (p && p->expires <= GetCurrentStatementStartTimestamp())
	{
		forget_principal(roleid);
		inval_count++;
		ResetPlanCache();
		p = NULL;
	}
	if (p == NULL)
	{
		PG_TRY();
		{
			p = load_principal(roleid);
		}
		PG_CATCH();
		{
			inval_count++;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return p;
}

/*
 * Is the role beyond crmperm's restrictions on everything (a superuser or a
 * super admin)?  A table owner's exemption is for its own table only.
 */
bool
crm_role_unrestricted(Oid roleid)
{
	const CrmPrincipal *p;

	if (superuser_arg(roleid))
		return true;
	p = crm_principal(roleid);
	return p != NULL && p->super_admin;
}

/*
 * The protected fields of a decision: exempt roles read and write them all
 * (read-only fields aside), governed roles what their field grants say.
 */
static void
decide_fields(CrmDecision *d, const CrmRelation *rel, const CrmGrant *g)
{
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(CrmRelContext);

	foreach(lc, rel->fields)
	{
		const CrmField *field = lfirst(lc);
		CrmFieldAccess *fa = palloc0(sizeof(CrmFieldAccess));
		ListCell   *gc;

		fa->field = field;
		if (d->exemption != CRM_GOVERNED)
			fa->privileges = CRM_READ | CRM_CREATE | CRM_UPDATE;
		else if (g)
		{
			foreach(gc, g->fields)
			{
				const CrmFieldGrant *fg = lfirst(gc);

				if (strcmp(fg->field, field->name) != 0)
					continue;
				fa->privileges = fg->privileges;
				memcpy(fa->scopes, fg->scopes, sizeof(fa->scopes));
			}
		}
		if (!(fa->privileges & CRM_READ) || fa->scopes[crm_action_index(CRM_READ)] != NIL)
			d->masked = true;
		d->fields = lappend(d->fields, fa);
	}
	MemoryContextSwitchTo(old);
}

/*
 * May the decided role set (create) or change (update) a protected field?
 * Read-only fields only for super admins and superusers.  A scoped privilege
 * is allowed here; the rows it covers are checked in the query.
 */
bool
crm_field_allowed(const CrmDecision *d, const CrmFieldAccess *fa, int privilege)
{
	if (d->exemption == CRM_EXEMPT_SUPERUSER || d->exemption == CRM_EXEMPT_SUPER_ADMIN)
		return true;
	if (fa->field->readonly && privilege != CRM_READ)
		return false;
	return (fa->privileges & privilege) != 0;
}

/*
 * What a role may do on a relation: false if crmperm does not manage it.
 * The decision is a copy: it stays valid whatever the cache does next,
 * except for the scope lists, which live until the next lookup.  Decisions
 * are remembered per (role, relation): the executor check and the policy
 * hooks ask at every statement.
 */
bool
crm_decide(Oid roleid, Oid relid, CrmDecision *d)
{
	const CrmPrincipal *p;
	const CrmRelation *rel;
	CrmGrantKey key;
	CrmGrant   *g;

	CrmDecisionEntry *entry;
	bool		found;

	if (!cache_ready())
		return false;
	key.roleid = roleid;
	key.relid = relid;
	entry = hash_search(decision_hash, &key, HASH_FIND, NULL);
	if (entry && entry->expires > GetCurrentStatementStartTimestamp())
	{
		*d = entry->d;
		return true;
	}

	if (crm_relation(relid) == NULL)
		return false;
	/* may reset the cache (an assignment expired): look rel up after it */
	p = crm_principal(roleid);
	rel = hash_search(rel_hash, &relid, HASH_FIND, NULL);
	if (rel == NULL)
		return false;

	memset(d, 0, sizeof(*d));
	d->relid = relid;
	d->toprelid = rel->toprelid;
	strlcpy(d->resource, rel->resource, NAMEDATALEN);
	d->system = p->system;
	d->sensitive = rel->sensitive;
	if (p->superuser)
		d->exemption = CRM_EXEMPT_SUPERUSER;
	else if (p->super_admin)
		d->exemption = CRM_EXEMPT_SUPER_ADMIN;
	else if (roleid == rel->relowner)
		d->exemption = CRM_EXEMPT_OWNER;

	key.roleid = roleid;
	key.relid = rel->toprelid;
	g = hash_search(grant_hash, &key, HASH_FIND, NULL);
	if (g)
	{
		d->actions = g->actions & rel->actions;
		for (int i = 0; i < CRM_NACTIONS; i++)
			d->scopes[i] = g->scopes[i];
	}
	decide_fields(d, rel, g);

	/* remembered until the cache is rebuilt or the principal expires */
	key.relid = relid;
	entry = hash_search(decision_hash, &key, HASH_ENTER, &found);
	entry->d = *d;
	entry->expires = p->expires;
	return true;
}

/*
 * May the decided role do this action?  Exempt roles may do anything, except
 * that nobody but a super admin (or superuser) writes to a sensitive table,
 * table owners included.
 */
bool
crm_action_allowed(const CrmDecision *d, int action)
{
	if (d->exemption == CRM_EXEMPT_SUPERUSER || d->exemption == CRM_EXEMPT_SUPER_ADMIN)
		return true;
	if (d->sensitive && action != CRM_READ)
		return false;
	if (d->exemption == CRM_EXEMPT_OWNER)
		return true;
	return (d->actions & action) != 0;
}
