/*-------------------------------------------------------------------------
 * sidechannels.c
 *		What a governed statement could reveal besides its result: calls of
 *		observable functions on rows out of scope, and actual row counts.
 *
 * Functions.  PostgreSQL lets a qual run before the row security quals when
 * it is "leakproof", which it takes to mean that no Var reaches a function
 * not marked LEAKPROOF (restrictinfo.c, contain_leaked_vars): a call with no
 * column reference (leaky(), leaky(<masked field>), id = f()) passes, and
 * order_qual_clauses() then runs it first when it is cheap, once for every
 * row, hidden ones included; counting the calls counts hidden rows (and
 * with "name = 'X' AND leaky()", the hidden rows named X).  For a managed
 * table read by a governed principal crmperm's rule is stricter: a qual
 * that calls a function that is neither LEAKPROOF nor crmperm's own waits
 * for the row security quals, whatever its arguments.  set_rel_pathlist_hook
 * marks such quals not leakproof (order_qual_clauses reads the mark when the
 * plan is made), and since the index and TID paths of the relation were
 * built before the hook, with the old mark, paths that use such a qual as an
 * index or TID condition (a recheck evaluates it once per heap row) are
 * dropped and the relation's scan paths built again.  An index ORDER BY
 * that calls such a function is dropped too (a lossy distance is recomputed
 * per row).  Nothing changes for tables crmperm does not manage nor for
 * roles it does not govern.
 *
 * Row counts.  EXPLAIN ANALYZE is refused to governed roles (utility.c), but
 * auto_explain with log_analyze prints the same plan with its actual row
 * counts ("Rows Removed by Filter") as a LOG message, which a session gets
 * with SET client_min_messages = log.  Once a statement of the transaction
 * ran for a session or a role that crmperm governs, in a database where it
 * manages tables, auto_explain's messages go to the server log only (and
 * those about crmperm's own catalog queries always do).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/subscripting.h"
#include "optimizer/cost.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "utils/lsyscache.h"

#include "crmperm.h"

static set_rel_pathlist_hook_type prev_set_rel_pathlist = NULL;

/* A statement of this transaction ran for a governed session or role. */
static bool governed_in_xact = false;

/* ---------------------------------------------------------------------------
 * Functions on rows out of scope
 * ---------------------------------------------------------------------------
 */

/* A function whose calls a principal could observe: not LEAKPROOF, not crmperm's. */
static bool
observable_function(Oid funcid, void *context)
{
	return !get_func_leakproof(funcid) && get_func_namespace(funcid) != *(Oid *) context;
}

/*
 * Does an expression call an observable function, whatever its arguments?
 * The node types that call functions, as contain_leaked_vars() knows them.
 */
static bool
calls_observable_walker(Node *node, Oid *crm_namespace)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, observable_function, crm_namespace))
		return true;
	if (IsA(node, RowCompareExpr))
	{
		ListCell   *lc;

		foreach(lc, ((RowCompareExpr *) node)->opnos)
			if (observable_function(get_opcode(lfirst_oid(lc)), crm_namespace))
				return true;
	}
	else if (IsA(node, SubscriptingRef))
	{
		SubscriptingRef *sbsref = (SubscriptingRef *) node;
		const SubscriptRoutines *routines = getSubscriptingRoutines(sbsref->refcontainertype,
																	NULL);

		if (routines == NULL ||
			!(sbsref->refassgnexpr ? routines->store_leakproof : routines->fetch_leakproof))
			return true;
	}
	return expression_tree_walker(node, calls_observable_walker, crm_namespace);
}

/*
 * Mark a qual that PostgreSQL found leakproof, but that calls an observable
 * function, as not leakproof when it could otherwise run before a lower
 * security level qual of rel (the arms of an OR, which index paths match one
 * by one, too).  Returns the quals marked, added to "marked".
 */
static List *
mark_qual(RestrictInfo *rinfo, RelOptInfo *rel, Oid *crm_namespace, List *marked)
{
	ListCell   *lc;

	if (!rinfo->leakproof || rinfo->security_level <= rel->baserestrict_min_security ||
		!calls_observable_walker((Node *) rinfo->clause, crm_namespace))
		return marked;
	rinfo->leakproof = false;
	marked = lappend(marked, rinfo);
	if (rinfo->orclause == NULL)
		return marked;
	foreach(lc, ((BoolExpr *) rinfo->orclause)->args)
	{
		Node	   *arm = lfirst(lc);
		ListCell   *ac;

		if (IsA(arm, RestrictInfo))
			marked = mark_qual((RestrictInfo *) arm, rel, crm_namespace, marked);
		else if (is_andclause(arm))
			foreach(ac, ((BoolExpr *) arm)->args)
				marked = mark_qual(lfirst_node(RestrictInfo, ac), rel, crm_namespace, marked);
	}
	return marked;
}

static bool
quals_marked(List *rinfos, List *marked)
{
	ListCell   *lc;

	foreach(lc, rinfos)
		if (list_member_ptr(marked, lfirst(lc)))
			return true;
	return false;
}

/*
 * Would this path evaluate a marked qual as an index or TID condition, or an
 * observable function in an index ORDER BY, possibly once per heap row?
 */
static bool
unsafe_path(Path *path, List *marked, Oid *crm_namespace)
{
	ListCell   *lc;

	switch (nodeTag(path))
	{
		case T_IndexPath:
			{
				IndexPath  *ipath = (IndexPath *) path;

				foreach(lc, ipath->indexclauses)
					if (list_member_ptr(marked, ((IndexClause *) lfirst(lc))->rinfo))
						return true;
				return calls_observable_walker((Node *) ipath->indexorderbys, crm_namespace);
			}
		case T_BitmapHeapPath:
			return unsafe_path(((BitmapHeapPath *) path)->bitmapqual, marked, crm_namespace);
		case T_BitmapAndPath:
			foreach(lc, ((BitmapAndPath *) path)->bitmapquals)
				if (unsafe_path(lfirst(lc), marked, crm_namespace))
					return true;
			return false;
		case T_BitmapOrPath:
			foreach(lc, ((BitmapOrPath *) path)->bitmapquals)
				if (unsafe_path(lfirst(lc), marked, crm_namespace))
					return true;
			return false;
		case T_TidPath:
			return quals_marked(((TidPath *) path)->tidquals, marked);
		case T_TidRangePath:
			return quals_marked(((TidRangePath *) path)->tidrangequals, marked);
		default:
			return false;
	}
}

/* Remove the unsafe paths of a list; *removed is set if any was. */
static List *
safe_paths(List *paths, List *marked, Oid *crm_namespace, bool *removed)
{
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, paths)
	{
		if (unsafe_path(lfirst(lc), marked, crm_namespace))
			*removed = true;
		else
			kept = lappend(kept, lfirst(lc));
	}
	return kept;
}

/*
 * The scan paths of a plain relation, as set_plain_rel_pathlist() builds
 * them (allpaths.c): add_path() keeps the best of these and what is left.
 */
static void
add_scan_paths(PlannerInfo *root, RelOptInfo *rel)
{
	add_path(rel, create_seqscan_path(root, rel, rel->lateral_relids, 0));
	if (rel->consider_parallel && rel->lateral_relids == NULL)
	{
		int			workers = compute_parallel_worker(rel, rel->pages, -1,
													  max_parallel_workers_per_gather);

		if (workers > 0)
			add_partial_path(rel, create_seqscan_path(root, rel, NULL, workers));
	}
	create_index_paths(root, rel);
	create_tidscan_paths(root, rel);
}

static bool
governed(Oid roleid, Oid relid)
{
	CrmDecision d;

	return crm_decide(roleid, relid, &d) && d.exemption == CRM_GOVERNED;
}

/*
 * A managed table (or a partition or child of one) scanned for a governed
 * principal, below row security quals: observable functions wait for them.
 * The cache is the one the planner hook made current for this statement.
 */
static void
crm_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	Oid			crm_namespace;
	List	   *marked = NIL;
	bool		removed = false;
	ListCell   *lc;

	if (rte->rtekind == RTE_RELATION &&
		rel->baserestrict_min_security < root->qual_security_level &&
		crm_relation(rte->relid) != NULL && !IS_DUMMY_REL(rel) &&
		(governed(GetUserId(), rte->relid) ||
		 governed(crm_planner_rel_role(root, rel, rte), rte->relid)))
	{
		crm_namespace = get_namespace_oid("crmperm", false);
		foreach(lc, rel->baserestrictinfo)
			marked = mark_qual(lfirst(lc), rel, &crm_namespace, marked);
		/* join quals that a parameterized path may move into this scan */
		foreach(lc, rel->joininfo)
			if (bms_is_member(rel->relid, ((RestrictInfo *) lfirst(lc))->clause_relids))
				marked = mark_qual(lfirst(lc), rel, &crm_namespace, marked);

		rel->pathlist = safe_paths(rel->pathlist, marked, &crm_namespace, &removed);
		rel->partial_pathlist = safe_paths(rel->partial_pathlist, marked, &crm_namespace,
										   &removed);
		if (removed && !rte->inh && rte->relkind == RELKIND_RELATION && rte->tablesample == NULL)
		{
			add_scan_paths(root, rel);
			rel->pathlist = safe_paths(rel->pathlist, marked, &crm_namespace, &removed);
			rel->partial_pathlist = safe_paths(rel->partial_pathlist, marked, &crm_namespace,
											   &removed);
			if (rel->pathlist == NIL)
				add_path(rel, create_seqscan_path(root, rel, rel->lateral_relids, 0));
		}
	}

	if (prev_set_rel_pathlist)
		prev_set_rel_pathlist(root, rel, rti, rte);
}

/* ---------------------------------------------------------------------------
 * Actual row counts
 * ---------------------------------------------------------------------------
 */

/*
 * At every executor start in a database where crmperm manages tables: does
 * a governed session or role run this statement?  The table owner's
 * exemption is for its own table; here only superusers and super admins
 * count as exempt.
 */
void
crm_side_channels_statement(void)
{
	if (!governed_in_xact &&
		!(crm_role_unrestricted(GetSessionUserId()) && crm_role_unrestricted(GetUserId())))
		governed_in_xact = true;
}

/*
 * emit_log_hook (messages.c): auto_explain's plans, with their actual row
 * counts, go to the server log only once the transaction ran a governed
 * statement, and always for crmperm's own catalog queries (which run before
 * the statement is known, and whose plans would describe the catalog).
 * auto_explain is known by its source file name, which PostgreSQL keeps in
 * every message.
 */
void
crm_side_channels_message(ErrorData *edata)
{
	if (edata->output_to_client && (governed_in_xact || crm_cache_loading) &&
		edata->filename && strcmp(edata->filename, "auto_explain.c") == 0)
		edata->output_to_client = false;
}

static void
side_channels_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		governed_in_xact = false;
}

void
crm_side_channels_init(void)
{
	prev_set_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = crm_set_rel_pathlist;
	RegisterXactCallback(side_channels_xact_callback, NULL);
}
