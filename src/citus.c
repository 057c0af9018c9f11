/*-------------------------------------------------------------------------
 * citus.c
 *		crmperm on Citus: the same decisions on every node.
 *
 * Rows live in shards (leads_102008) on the workers, and Citus sends each
 * shard the query as SQL: it never deparses row security quals, and the
 * worker decides row security again for the shard.  So crmperm decides where
 * the rows are read:
 *
 *   - a shard is a managed relation like a partition: it maps to its table
 *     through Citus's metadata (pg_dist_shard and shard_name(), in
 *     crmperm._managed_relations()), with its own attnos;
 *   - masks are applied to the shard, where the rows are read; on the node
 *     that plans the distributed query they are left to the shards (applied
 *     there too, they would be applied twice, and a worker refuses crmperm's
 *     mask calls it did not build itself);
 *   - CRUD, field write, token and sensitive-table checks still run where
 *     the query is planned, so denials name the table before any shard is
 *     touched, and run again on every shard.
 *
 * The catalog reaches every node by name (regclass and regrole columns
 * travel as their text): each change is sent to every worker with metadata
 * in the transaction that made it (Citus's two-phase commit: committed
 * everywhere or nowhere), and crmperm.sync_node() copies the whole catalog to
 * a node.  Citus's own functions are found in the running server by name
 * (dlsym): crmperm neither links against Citus nor needs it installed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_citus_node);
PG_FUNCTION_INFO_V1(crmperm_citus_send);

/* Citus 11 to 13 (transaction/worker_transaction.c, metadata/metadata_cache.c) */
static bool (*citus_loaded) (void);
static bool (*citus_table) (Oid relid);
static int32 (*citus_group) (void);
static char *(*citus_owner_name) (void);
static void (*citus_send_all) (const char *command);
static void (*citus_send_node) (const char *node, int32 port, const char *user,
								const char *command);
static bool resolved = false;

/*
 * Managed tables that were not Citus tables and whose relcache entry was
 * invalidated in this transaction: one may have become a Citus table
 * (create_distributed_table() after manage_table()), see crm_citus_xact().
 */
#define MAX_NOTED 64
static Oid	noted[MAX_NOTED];
static int	nnoted = 0;
static bool noted_overflow = false;

static void
resolve(void)
{
	if (resolved)
		return;
	resolved = true;
	citus_loaded = dlsym(RTLD_DEFAULT, "CitusHasBeenLoaded");
	citus_table = dlsym(RTLD_DEFAULT, "IsCitusTable");
	citus_group = dlsym(RTLD_DEFAULT, "GetLocalGroupId");
	citus_owner_name = dlsym(RTLD_DEFAULT, "CitusExtensionOwnerName");
	citus_send_all = dlsym(RTLD_DEFAULT, "SendCommandToWorkersWithMetadataViaSuperUser");
	citus_send_node = dlsym(RTLD_DEFAULT, "SendCommandToWorkerAsUser");
	if (!citus_table || !citus_group || !citus_owner_name || !citus_send_all ||
		!citus_send_node)
		citus_loaded = NULL;	/* not a Citus crmperm knows */
}

/* Is Citus loaded and created in this database? */
bool
crm_citus_active(void)
{
	resolve();
	return citus_loaded != NULL && IsTransactionState() && citus_loaded();
}

/*
 * Does Citus run queries on this relation through its shards (a distributed,
 * reference or Citus local table, on the coordinator or a worker)?  Shards
 * themselves are not.
 */
bool
crm_citus_table(Oid relid)
{
	return crm_citus_active() && citus_table(relid);
}

/* This node's part: "coordinator", "worker", or NULL without Citus. */
Datum
crmperm_citus_node(PG_FUNCTION_ARGS)
{
	if (!crm_citus_active())
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(citus_group() == 0 ? "coordinator" : "worker"));
}

/*
 * crmperm._citus_send(command, node, port): run command on every worker with
 * metadata (node NULL) or on one node, as Citus's extension owner, in the
 * current transaction (committed with it, by two-phase commit).  For
 * crmperm's catalog functions only (no EXECUTE for PUBLIC), on the
 * coordinator.
 */
Datum
crmperm_citus_send(PG_FUNCTION_ARGS)
{
	char	   *command;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("command must not be NULL")));
	if (!crm_citus_active() || citus_group() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crmperm's catalog is changed on the Citus coordinator only")));
	command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1))
		citus_send_all(command);
	else
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("port must not be NULL")));
		citus_send_node(text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_INT32(2),
						citus_owner_name(), command);
	}
	PG_RETURN_VOID();
}

/* Admin functions that change the catalog run on the coordinator. */
void
crm_citus_refuse_worker(const char *function)
{
	if (crm_citus_active() && citus_group() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crmperm.%s() changes crmperm's catalog, which is changed on the Citus coordinator only",
						function),
				 errdetail("This node is a Citus worker: it receives every change from the coordinator."),
				 errhint("Call it on the coordinator.")));
}

/* From the relcache callback: a managed table's entry was invalidated. */
void
crm_citus_note_relation(Oid relid)
{
	if (citus_loaded == NULL && resolved)
		return;
	for (int i = 0; i < nnoted; i++)
		if (noted[i] == relid)
			return;
	if (nnoted < MAX_NOTED)
		noted[nnoted++] = relid;
	else
		noted_overflow = true;
}

/*
 * Before commit, on the coordinator, in a transaction that wrote: send again
 * the catalog rows of managed tables that are Citus tables now.  A worker
 * leaves out the row of a table it does not have, so a table managed first
 * and distributed later reaches the workers here, in the transaction that
 * distributed it.  (crmperm's callback runs before Citus's, which then
 * commits the workers' part with the rest.)
 */
static void
crm_citus_xact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT && (nnoted > 0 || noted_overflow) &&
		GetTopTransactionIdIfAny() != InvalidTransactionId && !XactReadOnly &&
		!RecoveryInProgress() && crm_citus_active() && citus_group() == 0)
	{
		List	   *relids = NIL;
		Datum	   *elems;
		int			n = 0;
		ListCell   *lc;

		PushActiveSnapshot(GetTransactionSnapshot());
		if (noted_overflow && crm_catalog_present())
			relids = crm_managed_relids();
		else
			for (int i = 0; i < nnoted; i++)
				relids = lappend_oid(relids, noted[i]);
		nnoted = 0;
		noted_overflow = false;
		elems = palloc(sizeof(Datum) * (list_length(relids) + 1));
		foreach(lc, relids)
			if (citus_table(lfirst_oid(lc)))
				elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
		if (n > 0 && crm_catalog_present())
		{
			Oid			argtype = OIDARRAYOID;
			Datum		arg = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid),
															  true, TYPALIGN_INT));

			SPI_connect();
			crm_spi_execute("SELECT crmperm._sync_resources($1)", 1, &argtype, &arg,
							SPI_OK_SELECT);
			SPI_finish();
		}
		PopActiveSnapshot();
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		nnoted = 0;
		noted_overflow = false;
	}
}

void
crm_citus_init(void)
{
	RegisterXactCallback(crm_citus_xact, NULL);
}

/*
 * Plan a query whose Citus tables keep their masks for their shards.  Citus
 * 13 plans a query on one local shard with standard_planner, past every
 * planner hook (its "local fast path"), and the shard's masks would be
 * missed: that optimization is off while such a query is planned, so the
 * local shard query is planned, and masked, like any other.  (Should a plan
 * bypass the hook anyway, crm_check_masked() refuses it at executor start.)
 */
PlannedStmt *
crm_citus_plan_in_shards(planner_hook_type planner, Query *parse, const char *query_string,
						 int cursorOptions, ParamListInfo boundParams)
{
	static const char *const fast_path = "citus.enable_local_fast_path_query_optimization";
	int			nest = NewGUCNestLevel();
	PlannedStmt *result;

	if (GetConfigOption(fast_path, true, false) != NULL)
		(void) set_config_option(fast_path, "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	result = planner(parse, query_string, cursorOptions, boundParams);
	AtEOXact_GUC(true, nest);
	return result;
}

/*
 * No local execution for the rest of the transaction: every shard, this
 * node's too, is reached through a connection, where its node decides.
 * (Citus refuses, with its own error, when this transaction already ran
 * something locally.)
 */
static void
local_execution_off(void)
{
	static void (*set_status) (int status);
	static int (*get_status) (void);

	if (set_status == NULL)
	{
		set_status = dlsym(RTLD_DEFAULT, "SetLocalExecutionStatus");
		get_status = dlsym(RTLD_DEFAULT, "GetCurrentLocalExecutionStatus");
		if (set_status == NULL || get_status == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("crmperm cannot turn off local execution in this version of Citus")));
	}
	/* 2: LOCAL_EXECUTION_DISABLED (Citus 11 to 13) */
	if (get_status() != 2)
		set_status(2);
}

/*
 * Does the plan reach a Citus table, with one of the privileges in perms
 * (any, when 0; with some, only a managed table counts)?
 */
static bool
plan_reaches_citus(PlannedStmt *stmt, AclMode perms)
{
	ListCell   *lc;

	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && citus_table(rte->relid) &&
			(perms == 0 || ((crm_required_perms(CRM_PLAN_PERMINFOS(stmt), rte) & perms) &&
							crm_relation(rte->relid) != NULL)))
			return true;
	}
	return false;
}

/* ---- paths Citus writes into shards past row security ---- */

/*
 * Citus functions any role may call that write rows into a shard, or run a
 * query instrumented, past what crmperm checks: refused to every role
 * crmperm restricts (Citus's own operations run them as a superuser).
 *   worker_split_copy, worker_copy_table_to_node: a local COPY into a shard
 *   worker_save_query_explain_analyze: EXPLAIN ANALYZE, which crmperm refuses
 */
void
crm_citus_check_function(Oid funcid)
{
	static const char *const refused[] = {
		"worker_split_copy", "worker_copy_table_to_node", "worker_save_query_explain_analyze"
	};
	char	   *name;

	if (!crm_citus_active() || get_func_namespace(funcid) != PG_CATALOG_NAMESPACE)
		return;
	name = get_func_name(funcid);
	for (int i = 0; name && i < lengthof(refused); i++)
		if (strcmp(name, refused[i]) == 0 && !crm_role_unrestricted(GetUserId()))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied: role \"%s\" may not call %s()",
							GetUserNameFromId(GetUserId(), false), name),
					 errdetail("It writes into shards, or reports row counts, past crmperm's row checks."),
					 errhint("Citus's own shard operations run it as a superuser.")));
}

/*
 * A governed INSERT into a Citus table: Citus writes the rows of an
 * INSERT ... SELECT it runs through the coordinator into a local shard with
 * COPY, past row security (the tenant boundary, the create scope).  With
 * local execution off for the transaction every shard is written through a
 * connection, where the receiving node checks the rows (crmperm's COPY into
 * a managed table: each row an INSERT).
 */
void
crm_citus_governed_write(PlannedStmt *stmt)
{
	/* (Citus plans an INSERT ... SELECT as a SELECT: the INSERT privilege tells) */
	if (stmt != NULL && crm_citus_active() && !crm_role_unrestricted(GetUserId()) &&
		plan_reaches_citus(stmt, ACL_INSERT))
		local_execution_off();
}

/* ---- statements under a token (tokens.c: node tokens) ---- */

static bool
touches_citus_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		return rte->rtekind == RTE_RELATION && citus_table(rte->relid);
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, touches_citus_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, touches_citus_walker, context);
}

/* Does the query read or write a Citus table (at any level)? */
bool
crm_citus_query_touches(Query *query)
{
	return crm_citus_active() && touches_citus_walker((Node *) query, NULL);
}

/*
 * Under a token, a statement whose plan reaches Citus tables: every node it
 * reaches runs its part as the token's principal (the node token, sent with
 * SET LOCAL in the coordinated transaction), nothing runs locally as the
 * relay role (local execution is off for the transaction: the local shards
 * are reached through a connection too), and the caller runs Citus's
 * execution as the relay role (tokens.c), which Citus connects as.  True
 * when it does.
 */
bool
crm_citus_token_statement(PlannedStmt *stmt)
{
	static void (*use_coordinated) (void);
	static void (*propagate_set) (VariableSetStmt *stmt, const char *command);
	static StringInfo *active_sets;
	char	   *command;
	VariableSetStmt *set;

	if (stmt == NULL || !crm_citus_active() || !plan_reaches_citus(stmt, 0))
		return false;
	(void) crm_token_relay_role(true);

	if (use_coordinated == NULL)
	{
		use_coordinated = dlsym(RTLD_DEFAULT, "UseCoordinatedTransaction");
		propagate_set = dlsym(RTLD_DEFAULT, "PostprocessVariableSetStmt");
		active_sets = dlsym(RTLD_DEFAULT, "activeSetStmts");
		if (!use_coordinated || !propagate_set || !active_sets)
		{
			use_coordinated = NULL;
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("tokens cannot reach Citus tables with this version of Citus")));
		}
	}

	local_execution_off();
	use_coordinated();
	if (*active_sets == NULL || strstr((*active_sets)->data, "crmperm.node_token") == NULL)
	{
		set = makeNode(VariableSetStmt);
		set->kind = VAR_SET_VALUE;
		set->name = "crmperm.node_token";
		set->is_local = true;
		command = psprintf("SET LOCAL crmperm.node_token TO %s",
						   quote_literal_cstr(crm_token_node_assertion()));
		propagate_set(set, command);
	}
	return true;
}
