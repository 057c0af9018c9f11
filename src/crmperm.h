/*-------------------------------------------------------------------------
 * crmperm.h
 *		Shared declarations of crmperm, one section per source file.
 *-------------------------------------------------------------------------
 */
#ifndef CRMPERM_H
#define CRMPERM_H

#include "postgres.h"

#include "compat.h"

#include "nodes/parsenodes.h"
#include "optimizer/planner.h"
#include "parser/parse_node.h"
#include "access/htup.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

/* Actions on a managed table, as bits. */
#define CRM_READ	0x01
#define CRM_CREATE	0x02
#define CRM_UPDATE	0x04
#define CRM_DELETE	0x08
#define CRM_NACTIONS 4

/* System permissions, as bits. */
#define CRM_SYS_EXPORT				0x01
#define CRM_SYS_BULK				0x02
#define CRM_SYS_MANAGE_PERMISSIONS	0x04
#define CRM_SYS_MANAGE_TOKENS		0x08
#define CRM_SYS_VIEW_AUDIT			0x10
#define CRM_SYS_SHARE				0x20

/*
 * A crmperm name (at most 63 characters, see crmperm._check_name()) in any
 * server encoding, with its terminating zero.
 */
#define CRM_NAME_BYTES ((NAMEDATALEN - 1) * MAX_MULTIBYTE_CHAR_LEN + 1)

/* ---- cache.c: the catalog, read once per invalidation, and decisions ---- */

/* A managed table (or a partition / child of one). */
typedef struct CrmRelation
{
	Oid			relid;			/* hash key */
	Oid			toprelid;		/* the managed table itself */
	Oid			relowner;		/* the managed table's owner (partitions too) */
	bool		sensitive;
	char		resource[NAMEDATALEN];
	NameData	owner_column;	/* empty when not set */
	NameData	team_column;
	NameData	department_column;
	NameData	tenant_column;
	List	   *fields;			/* CrmField entries: the protected fields */
	bool		audit_reads;	/* audit_reads(): every read is audited */
	int			actions;		/* the CRM_* actions the resource has (1.4) */
	char		parent[NAMEDATALEN];	/* set_parent(): its parent resource, or "" */
	List	   *fk_columns;		/* ... through these columns (char *) */
	bool		shared;			/* some row of it was ever shared (1.5) */
	bool		citus;			/* a Citus table when loaded (citus.c) */
} CrmRelation;

/* A protected field of a relation (attno in that relation: partitions differ). */
typedef struct CrmField
{
	AttrNumber	attno;
	char		name[NAMEDATALEN];
	char		mask[NAMEDATALEN * 2 + 2];	/* null, redact, ..., or schema.function */
	bool		readonly;
} CrmField;

/* Why a role is not governed by crmperm on a table (CRM_GOVERNED if it is). */
typedef enum CrmExemption
{
	CRM_GOVERNED = 0,
	CRM_EXEMPT_SUPERUSER,
	CRM_EXEMPT_SUPER_ADMIN,
	CRM_EXEMPT_OWNER
} CrmExemption;

/*
 * One scope an action is granted with, and until when (DT_NOEND: no end).
 * The same scope through several assignments counts until the latest end.
 */
typedef struct CrmScope
{
	char		name[NAMEDATALEN];	/* all, owned, team, department or custom */
	TimestampTz until;
} CrmScope;

/* A custom scope from define_scope(). */
typedef struct CrmScopeDef
{
	char		resource[NAMEDATALEN];
	char		name[NAMEDATALEN];
	Node	   *raw;			/* the predicate, parsed (raw grammar output) */
} CrmScopeDef;

/* The policy quals built for a role on a relation and command, cached. */
typedef struct CrmPolicyKey
{
	Oid			roleid;
	Oid			relid;
	int			action;			/* CRM_READ ... */
	bool		restrictive;	/* the tenant boundary */
} CrmPolicyKey;

typedef struct CrmPolicy
{
	CrmPolicyKey key;
	bool		none;			/* no policy (default deny / no boundary) */
	char		name[NAMEDATALEN * 2];
	ArrayType  *roles;			/* {roleid} */
	Expr	   *qual;
	Expr	   *with_check;
	bool		hassublinks;
} CrmPolicy;

/*
 * What a role may do with one protected field: CRM_READ, CRM_CREATE and
 * CRM_UPDATE bits, and per privilege the scopes of the rows it holds on
 * (NIL: every row), as in CrmDecision.
 */
typedef struct CrmFieldAccess
{
	const CrmField *field;
	int			privileges;
	List	   *scopes[CRM_NACTIONS];
} CrmFieldAccess;

/* The read masks of a role on a relation, built once (varno 1). */
typedef struct CrmMasks
{
	Oid			roleid;			/* hash key, with relid */
	Oid			relid;
	bool		built;
	List	   *tlist;			/* TargetEntry per masked attno; NIL: none */
	bool		hassublinks;	/* a scope in tlist has a subquery */
} CrmMasks;

/* Everything crmperm decides for a role on one table. */
typedef struct CrmDecision
{
	Oid			relid;			/* the relation decided on */
	Oid			toprelid;		/* its managed table */
	char		resource[NAMEDATALEN];
	int			system;			/* the role's CRM_SYS_* bits */
	CrmExemption exemption;
	bool		sensitive;		/* writes only for super admins */
	int			actions;		/* CRM_READ | ... granted (before exemption) */
	List	   *scopes[CRM_NACTIONS];	/* CrmScope entries per action, by
										 * crm_action_index(); NIL when "all"
										 * is among them without an end */
	List	   *fields;			/* CrmFieldAccess per protected field */
	bool		masked;			/* some field is not readable on every row */
} CrmDecision;

/* An action beyond CRUD held by a principal (resource.action, actions.c). */
typedef struct CrmActionGrant
{
	char		resource[NAMEDATALEN];
	char		action[NAMEDATALEN];
	List	   *scopes;			/* CrmScope entries */
} CrmActionGrant;

/* A routine whose calls need an action (protect_routine()). */
typedef struct CrmRoutine
{
	Oid			funcid;			/* hash key */
	uint32		hashvalue;		/* of its pg_proc syscache entry */
	char		resource[NAMEDATALEN];
	char		action[NAMEDATALEN];
	int			key_argument;	/* 1-based input argument naming the row; 0: none */
} CrmRoutine;

/* The attributes of a principal. */
typedef struct CrmPrincipal
{
	Oid			roleid;			/* hash key */
	bool		superuser;
	bool		super_admin;
	int			system;			/* CRM_SYS_* bits */
	char	   *user_id;		/* NULL when not set */
	List	   *team_ids;		/* of char * */
	List	   *department_ids; /* of char * */
	char	   *tenant_id;		/* NULL when not set */
	TimestampTz expires;		/* the soonest valid_until among the
								 * assignments that counted (DT_NOEND: none) */
	List	   *actions;		/* CrmActionGrant entries */
	List	   *roles;			/* the CRM roles it holds (char *) */
} CrmPrincipal;

extern bool crm_cache_loading;

extern void crm_cache_init(void);
extern bool crm_extension_active(void);
extern bool crm_extension_active_as_planned(void);
extern bool crm_catalog_present(void);
extern bool crm_reads_audited(void);
extern const CrmRelation *crm_relation(Oid relid);
extern const CrmRelation *crm_relation_by_resource(const char *resource);
extern const CrmPrincipal *crm_principal(Oid roleid);
extern bool crm_role_unrestricted(Oid roleid);
extern List *crm_text_array_list(Datum d, bool isnull, MemoryContext cxt);
extern bool crm_decide(Oid roleid, Oid relid, CrmDecision *d);
extern bool crm_action_allowed(const CrmDecision *d, int action);
extern int	crm_action_index(int action);
extern bool crm_scopes_include_all(List *scopes);
extern const CrmScopeDef *crm_scope_def(const char *resource, const char *name);
extern List *crm_managed_relids(void);
extern bool crm_action_defined(const char *resource, const char *action);
extern bool crm_resource_defined(const char *resource);
extern const CrmRoutine *crm_routine(Oid funcid);
extern bool crm_routines_among(List *invalItems);
extern bool crm_routines_keyed(void);
extern Oid	crm_routine_key_function(void);
extern Oid	crm_record_keys_function(void);
extern void crm_cache_watch_scope_relation(Oid relid);
/* crmperm's WITH CHECK functions, which raise crmperm's own denial. */
typedef enum CrmCheck
{
	CRM_CHECK_SCOPE,			/* crmperm._in_scope() */
	CRM_CHECK_TENANT,			/* crmperm._in_tenant() */
	CRM_CHECK_FIELD				/* crmperm._field_in_scope() */
} CrmCheck;

extern Oid	crm_check_function(CrmCheck which);
extern MemoryContext crm_cache_memory(void);
extern void crm_cache_invalidate(void);
extern CrmPolicy *crm_policy_entry(Oid roleid, Oid relid, int action, bool restrictive,
								   bool *found);
extern CrmMasks *crm_masks_entry(Oid roleid, Oid relid);
extern bool crm_field_allowed(const CrmDecision *d, const CrmFieldAccess *fa, int privilege);
extern const bytea *crm_hash_key(void);
extern void crm_spi_query(const char *sql, Oid arg);
extern void crm_spi_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
							int expected);
extern void crm_spi_execute_nulls(const char *sql, int nargs, Oid *argtypes, Datum *values,
								  const char *nulls, int expected);
extern uint64 crm_catalog_version(void);

/* ---- crud.c: executor permission checks, TRUNCATE ---- */

/* The utility statement a query runs under, when it matters (utility.c). */
typedef enum CrmUtilityContext
{
	CRM_IN_QUERY = 0,
	CRM_IN_COPY_TO,				/* needs export */
	CRM_IN_EXPLAIN_ANALYZE		/* refused: row counts reveal hidden rows */
} CrmUtilityContext;

extern CrmUtilityContext crm_utility_context;
extern void crm_crud_init(void);
extern const char *crm_action_name(int action);
extern int	crm_required_actions(AclMode perms);
extern const int crm_action_order[CRM_NACTIONS];
extern bool crm_parallel_shipped_plan(void);

/* ---- actions.c: actions beyond CRUD, application permissions, protected routines ---- */
extern void crm_actions_init(void);
extern int	crm_crud_action_bit(const char *name);
extern bool crm_action_held(Oid roleid, const char *resource, const char *action);
extern bool crm_check_action(Oid roleid, const char *resource, const char *action, bool raise);
extern char *crm_held_list(Oid roleid, const char *resource);
extern bool crm_in_protected_routine_as(Oid roleid);
extern Node *crm_actions_key_checks(Node *node);

/* ---- scopes.c: row security policies, custom scope predicates ---- */
extern void crm_scopes_init(void);
extern Node *crm_parse_predicate(const char *predicate);
extern Node *crm_analyze_predicate(Relation relation, const char *predicate);
extern Bitmapset *crm_scope_columns(Relation relation, const char *resource, const char *scope);
extern Node *crm_scopes_qual(Relation relation, Oid roleid, List *scopes, const char *action,
							 char **names, bool *hassublinks);
extern bool crm_function_pins_search_path(HeapTuple proctup);
extern Node *crm_named_check(Oid fn, Node *qual, const char *resource, int action,
							 const char *what);
extern void crm_scopes_row_check(Oid relid, List *scopes, const char *action, bool shares);
extern Oid	crm_scopes_row_check_relid(void);

/* ---- sharing.c: parents, shared rows, account teams, what scopes read ---- */
extern bool crm_scope_rte(const RangeTblEntry *rte);
extern void crm_check_key_type(Oid type);
extern bool crm_mark_scope_reads(Node *qual);
extern bool crm_single_key(Relation relation, char **column, Oid *type, Oid *eqop);
extern Node *crm_record_keys_qual(ParseState *pstate, Relation relation, const char *kind,
								  const char *resource, const char *action, Oid roleid);
extern Node *crm_parent_qual(ParseState *pstate, Relation relation, const CrmRelation *rel,
							 Oid roleid, const char *action);

/* ---- citus.c: shards decided as their tables, the catalog on every node ---- */
extern void crm_citus_init(void);
extern bool crm_citus_active(void);
extern bool crm_citus_table(Oid relid);
extern void crm_citus_refuse_worker(const char *function);
extern void crm_citus_note_relation(Oid relid);
extern bool crm_citus_token_statement(PlannedStmt *stmt);
extern bool crm_citus_query_touches(Query *query);
extern void crm_citus_check_function(Oid funcid);
extern void crm_citus_governed_write(PlannedStmt *stmt);
extern PlannedStmt *crm_citus_plan_in_shards(planner_hook_type planner, Query *parse,
											 const char *query_string, int cursorOptions,
											 ParamListInfo boundParams);

/* ---- fields.c: masks in the planner, field write checks ---- */
extern void crm_fields_init(void);
extern void crm_check_field_writes(Oid roleid, const CrmDecision *d, const CrmPermInfo *perm);
extern void crm_check_masked(Oid roleid, const CrmDecision *d, const RangeTblEntry *rte);
extern void crm_hmac_sha256(const uint8 *key, size_t keylen, const uint8 *message, size_t len,
							uint8 *digest);

/* ---- tokens.c: API tokens, the identity switch, statements under a token ---- */
extern void crm_tokens_init(void);
extern bool crm_token_active(void);
extern const char *crm_token_name(void);
extern const char *crm_token_scope_list(void);
extern bool crm_token_allows(const char *resource, int action);
extern bool crm_token_allows_scope(const char *resource, const char *action);
extern bool crm_token_check_range_table(List *rangeTable, List *perminfos,
										bool ereport_on_violation);
extern void crm_token_check_utility(Node *parsetree);
extern void crm_tokens_redact(ErrorData *edata);
extern const char *crm_token_redact_query(const char *text);
extern char *crm_token_node_assertion(void);
extern Oid	crm_token_relay_role(bool must_exist);
extern bool crm_token_as_principal(Oid *user, int *sec_context);

/* ---- audit.c: events that outlive their transaction ---- */
typedef enum CrmAuditKind
{
	CRM_AUDIT_DENIAL,
	CRM_AUDIT_AUTH_SUCCESS,
	CRM_AUDIT_AUTH_FAILURE,
	CRM_AUDIT_READ
} CrmAuditKind;

extern void crm_audit_init(void);
extern void crm_audit_event(CrmAuditKind kind, const char *resource, const char *action,
							int64 rows);
extern void crm_audit_auth(bool success, const char *token);
extern void crm_audit_set_command(Node *stmt);
extern void crm_clip_copy(char *dst, const char *src, size_t size);

/* ---- sidechannels.c: observable functions on hidden rows, row counts ---- */
extern void crm_side_channels_init(void);
extern void crm_side_channels_statement(void);
extern void crm_side_channels_message(ErrorData *edata);

/* ---- messages.c: the one emit_log_hook ---- */
extern void crm_messages_init(void);

/* ---- admin.c ---- */
extern List *crm_caller_search_path(void);
extern Oid	crm_admin_caller(void);
extern bool crm_has_system_permission(Oid roleid, int permission);
extern int	crm_system_permission_bit(const char *name);

/* ---- tenant_admin.c: what tenant administrators may administer ---- */
extern const char *crm_admin_tenant(Oid roleid);
extern void crm_tenant_admin_check(const char *function, FunctionCallInfo fcinfo, Oid caller);

/* ---- utility.c: COPY TO, ALTER TABLE guards ---- */
extern Oid	crm_utility_user;	/* the role running the current utility statement */
extern void crm_utility_init(void);

/* ---- attach.c: objects attached to managed tables, DDL that writes rows ---- */
extern void crm_attach_init(void);
extern void crm_attach_check_alter_table(AlterTableStmt *stmt);
extern void crm_attach_check_alter_enum(AlterEnumStmt *stmt);

/* ---- errors.c: the one place denial messages are built ---- */

/*
 * How crmperm marks the calls it builds into plans to its check and mask
 * functions (funcformat of the FuncExpr).  The parser gives this format only
 * to calls of core functions written in special syntax (EXTRACT, ...), so no
 * SQL a user writes produces it for a crmperm function.
 */
#define CRM_CALL_FORMAT COERCE_SQL_SYNTAX
extern void crm_require_crmperm_call(FunctionCallInfo fcinfo);
extern const char *crm_quote_arg(const char *value);
extern void crm_deny_action(Oid roleid, const CrmDecision *d, int action);
extern void crm_deny_truncate_scope(Oid roleid, const CrmDecision *d);
extern void crm_deny_system(Oid roleid, const char *permission, const char *needed_for);
extern void crm_deny_explain_analyze(Oid roleid, const CrmDecision *d);
extern void crm_deny_scope(Oid roleid, const char *resource, const char *action,
						   const char *scopes, bool new_row, bool field);
extern void crm_deny_field(Oid roleid, const CrmDecision *d, const CrmFieldAccess *fa,
						   int privilege);
extern void crm_deny_tenant(Oid roleid, const char *resource, const char *action,
							const char *tenant_column);
extern char *crm_granted_list(const CrmDecision *d);
extern void crm_deny_token_scope(const char *token, const char *scopes, const char *resource,
								 const char *action);
extern void crm_deny_named_action(Oid roleid, const char *resource, const char *action,
								  const char *needed_for);
extern void crm_deny_row_action(Oid roleid, const char *resource, const char *action,
								const char *scopes);
extern void crm_deny_token_relation(const char *token, Oid relid);
extern void crm_deny_unchecked_key(Oid funcid, const char *resource, const char *action,
								   int key_argument);
extern void crm_deny_token_role(const char *token, Oid principal, Oid roleid,
								const char *resource);
extern void crm_deny_token_statement(const char *token, const char *command);
extern void crm_deny_token_system(const char *token, const char *permission,
								  const char *needed_for);
extern void crm_deny_attach(Oid roleid, const CrmRelation *rel, Oid relid, const char *what);
extern void crm_deny_attach_function(Oid roleid, const CrmRelation *rel, Oid funcid,
									 Oid funcowner);
extern void crm_deny_ddl(Oid roleid, const char *resource, const char *field,
						 const char *command);
extern void crm_deny_child_owner(Oid roleid, const CrmRelation *rel, Oid newowner);
extern void crm_deny_enum_rename(Oid roleid, const char *type, const char *use);
extern void crm_deny_tenant_admin(Oid roleid, const char *tenant, const char *function,
								  const char *what, const char *detail, const char *hint);

#endif							/* CRMPERM_H */
