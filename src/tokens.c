/*-------------------------------------------------------------------------
 * tokens.c
 *		API tokens: authenticate() switches the current user to the token's
 *		principal from C, transaction callbacks switch it back, and every
 *		statement under a token is narrowed to the token's scopes.
 *
 * A token is "crm_" + a 12-hex-digit key id (public: it finds the row) + "_"
 * + 43 base64url characters of secret (256 bits from pg_strong_random).
 * Only SHA-256 of the whole token is stored, and compared in constant time.
 *
 * The switch is SetUserIdAndSecContext(principal, ... |
 * SECURITY_LOCAL_USERID_CHANGE): the login role need not be a member of the
 * principal, and SET ROLE, RESET ROLE, SET SESSION AUTHORIZATION and
 * set_config('role', ...) fail for the rest of the transaction.  At COMMIT or
 * PREPARE an XactCallback restores the login role (so the next client of a
 * transaction pooler does not inherit the token); at ROLLBACK PostgreSQL
 * restores it itself and the callback forgets the token.  With session =>
 * true the commit instead makes the principal the session's role
 * (SetCurrentRoleId, as SET ROLE would, without its membership check), and
 * the token stays active until logout().
 *
 * Under a token, every statement is checked here before it runs:
 *   - the token is still valid (revocation and expiry bite at once: the
 *     token's row is re-read whenever crmperm's catalog changed);
 *   - each table it touches is a crmperm resource (or a system catalog, or a
 *     view, whose tables are in the same range table), accessed as the
 *     principal itself (not as a view owner or a SECURITY DEFINER function's
 *     owner), for actions among the token's scopes;
 *   - utility statements are limited to transaction control, cursors,
 *     prepared statements, EXPLAIN, COPY, SET/SHOW (not of role) and the
 *     like.
 *
 * Nothing opened under a token outlives it: WITH HOLD cursors are refused
 * under any token, authenticate() is refused while a held cursor declared in
 * the transaction would be filled at commit, logout() while a cursor opened
 * under the token is open, and every fetch re-checks the token.
 *
 * Failed attempts are throttled per login role in shared memory.  A token's
 * secret never reaches the server log (crmperm's emit_log_hook, in
 * messages.c, has it redacted here), nor any store of query text: the
 * client's statement is redacted in place once it was parsed, other
 * statements' text is handed on redacted (post-parse, ExecutorStart and
 * ProcessUtility hooks).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "commands/prepare.h"
#include "commands/extension.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_token_secret);
PG_FUNCTION_INFO_V1(crmperm_authenticate);
PG_FUNCTION_INFO_V1(crmperm_logout);
PG_FUNCTION_INFO_V1(crmperm_token_name);

#define TOKEN_PREFIX		"crm_"
#define KEY_ID_BYTES		6	/* 12 hex digits */
#define SECRET_BYTES		32	/* 43 base64url characters */
#define KEY_ID_LEN			(KEY_ID_BYTES * 2)
#define SECRET_LEN			43
#define TOKEN_LEN			(sizeof(TOKEN_PREFIX) - 1 + KEY_ID_LEN + 1 + SECRET_LEN)

/* Failed attempts per login role, in shared memory. */
#define THROTTLE_SLOTS		256

typedef struct ThrottleSlot
{
	Oid			role;			/* InvalidOid: free */
	int			failures;		/* in the window that started at window_start */
	TimestampTz window_start;
	TimestampTz locked_until;
} ThrottleSlot;

typedef struct ThrottleShared
{
	slock_t		mutex;
	ThrottleSlot slots[THROTTLE_SLOTS];
} ThrottleShared;

typedef enum TokenMode
{
	TOKEN_NONE = 0,
	TOKEN_TRANSACTION,			/* ends at commit or rollback */
	TOKEN_SESSION_PENDING,		/* session => true, not committed yet */
	TOKEN_SESSION				/* session => true, committed */
} TokenMode;

/*
 * One scope of the active token: a resource, its CRUD actions (CRM_* bits)
 * and its other actions (names: refund, export, access).
 */
typedef struct TokenScope
{
	char		resource[NAMEDATALEN];
	int			actions;
	List	   *named;
} TokenScope;

/* The active token of this backend. */
static struct
{
	TokenMode	mode;
	char		name[CRM_NAME_BYTES];
	char		key_id[KEY_ID_LEN + 1];	/* the public part: finds its row */
	Oid			principal;
	Oid			saved_user;		/* restored at commit (transaction mode) */
	int			saved_sec_context;
	SubTransactionId subid;		/* where authenticated, until committed */
	int			nest_level;
	TimestampTz started;		/* statement start of authenticate() */
	List	   *scopes;			/* TokenScope entries, in token_context */
	char	   *scope_list;		/* "leads.create, leads.read", for messages */
	uint64		checked_at;		/* catalog version the row was read at */
	TimestampTz expires;		/* DT_NOEND: none */
	bool		dead;			/* revoked, expired or tampered with: ends at
								 * the end of the transaction */
} token;

/* A session token was ended in this transaction: a rollback must not undo it. */
static bool session_ended_in_xact = false;

static MemoryContext token_context = NULL;
static ThrottleShared *throttle = NULL;
static int	max_failures = 5;
static int	failure_window = 60;	/* seconds */
static int	lockout = 300;		/* seconds */
static Oid	information_schema_nsp = InvalidOid;
static char *node_token = NULL;	/* crmperm.node_token, see node_token_apply() */
static char *relay_role = NULL;	/* crmperm.citus_relay_role */

static void node_token_apply(void);
static char *find_token(const char *s, bool redacted_too);
static void b64url(const uint8 *bytes, size_t len, char *out);

/*
 * Citus executes a statement under a token as the relay role (node tokens,
 * below): the relay role while it does, InvalidOid otherwise.  What runs
 * inside meanwhile as the relay role (a function's statements, Citus's own
 * subplans) is planned and checked as the principal again.
 */
static Oid	window_user = InvalidOid;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorRun_hook_type prev_executor_run = NULL;

/* ---- shared memory: the throttle ---- */

static void
tokens_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ThrottleShared)));
}

static void
tokens_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	throttle = ShmemInitStruct("crmperm token throttle", sizeof(ThrottleShared), &found);
	if (!found)
	{
		memset(throttle, 0, sizeof(ThrottleShared));
		SpinLockInit(&throttle->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The slot of a role (the mutex held), or NULL. */
static ThrottleSlot *
throttle_find(Oid role)
{
	for (int i = 0; i < THROTTLE_SLOTS; i++)
		if (throttle->slots[i].role == role)
			return &throttle->slots[i];
	return NULL;
}

/* Seconds a login role must still wait before it may try again (0: none). */
static int
throttle_wait(Oid role)
{
	TimestampTz now = GetCurrentTimestamp();
	ThrottleSlot *slot;
	TimestampTz until = 0;
	long		secs;
	int			usecs;

	SpinLockAcquire(&throttle->mutex);
	slot = throttle_find(role);
	if (slot)
		until = slot->locked_until;
	SpinLockRelease(&throttle->mutex);
	if (until <= now)
		return 0;
	TimestampDifference(now, until, &secs, &usecs);
	return (int) secs + 1;
}

/*
 * Count a failure.  When the table is full, the slot that changed longest
 * ago is reused (a locked one only when every slot is locked).
 */
static void
throttle_fail(Oid role)
{
	TimestampTz now = GetCurrentTimestamp();
	ThrottleSlot *slot;

	SpinLockAcquire(&throttle->mutex);
	slot = throttle_find(role);
	if (slot == NULL)
	{
		for (int i = 0; i < THROTTLE_SLOTS; i++)
		{
			ThrottleSlot *s = &throttle->slots[i];

			if (slot == NULL ||
				(slot->locked_until > now && s->locked_until <= now) ||
				((slot->locked_until > now) == (s->locked_until > now) &&
				 Max(s->window_start, s->locked_until) < Max(slot->window_start, slot->locked_until)))
				slot = s;
		}
		memset(slot, 0, sizeof(*slot));
		slot->role = role;
	}
	if (slot->window_start + (TimestampTz) failure_window * USECS_PER_SEC <= now)
	{
		slot->window_start = now;
		slot->failures = 0;
	}
	if (++slot->failures >= max_failures)
	{
		slot->locked_until = now + (TimestampTz) lockout * USECS_PER_SEC;
		slot->failures = 0;
		slot->window_start = now;
	}
	SpinLockRelease(&throttle->mutex);
}

/* ---- the active token ---- */

bool
crm_token_active(void)
{
	return token.mode != TOKEN_NONE;
}

static void
token_forget(void)
{
	MemoryContextReset(token_context);
	memset(&token, 0, sizeof(token));
}

/* Make the login role the session's role again and forget the token. */
static void
end_session_token(void)
{
	SetCurrentRoleId(InvalidOid, false);
	token_forget();
	session_ended_in_xact = true;
}

static void
tokens_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			if (token.mode == TOKEN_TRANSACTION ||
				(token.mode == TOKEN_SESSION_PENDING && token.dead))
			{
				SetUserIdAndSecContext(token.saved_user, token.saved_sec_context);
				token_forget();
			}
			else if (token.mode == TOKEN_SESSION_PENDING)
			{
				SetUserIdAndSecContext(token.saved_user, token.saved_sec_context);
				SetCurrentRoleId(token.principal, false);
				token.mode = TOKEN_SESSION;
			}
			else if (token.mode == TOKEN_SESSION && token.dead)
				end_session_token();
			session_ended_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
			window_user = InvalidOid;
			/* PostgreSQL has restored the user the transaction started with */
			if (token.mode == TOKEN_TRANSACTION || token.mode == TOKEN_SESSION_PENDING)
				token_forget();
			else if (token.mode == TOKEN_SESSION && token.dead)
				end_session_token();
			/* ... which is the principal again if a session token ended here */
			if (session_ended_in_xact)
				SetCurrentRoleId(InvalidOid, false);
			session_ended_in_xact = false;
			break;
		default:
			break;
	}
}

static void
tokens_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if ((token.mode != TOKEN_TRANSACTION && token.mode != TOKEN_SESSION_PENDING) ||
		token.subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		token.subid = parentSubid;
		token.nest_level--;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		token_forget();			/* the user was restored with the subtransaction */
}

/* "leads.create, leads.read" from a text[] of scopes, and the parsed list. */
static void
load_scopes(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	StringInfoData buf;
	MemoryContext old = MemoryContextSwitchTo(token_context);

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		char	   *scope = TextDatumGetCString(elems[i]);
		char	   *dot = strchr(scope, '.');
		ListCell   *lc;
		TokenScope *ts = NULL;

		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", scope);
		if (dot == NULL)
			continue;
		*dot = '\0';
		foreach(lc, token.scopes)
			if (strcmp(((TokenScope *) lfirst(lc))->resource, scope) == 0)
				ts = lfirst(lc);
		if (ts == NULL)
		{
			ts = palloc0(sizeof(TokenScope));
			strlcpy(ts->resource, scope, NAMEDATALEN);
			token.scopes = lappend(token.scopes, ts);
		}
		if (crm_crud_action_bit(dot + 1) != 0)
			ts->actions |= crm_crud_action_bit(dot + 1);
		else
			ts->named = lappend(ts->named, dot + 1);
	}
	token.scope_list = buf.data;
	MemoryContextSwitchTo(old);
}

/* May the active token do this action on this resource? */
bool
crm_token_allows(const char *resource, int action)
{
	ListCell   *lc;

	foreach(lc, token.scopes)
	{
		TokenScope *ts = lfirst(lc);

		if (strcmp(ts->resource, resource) == 0)
			return (ts->actions & action) != 0;
	}
	return false;
}

/* The same for any action of the resource, by name. */
bool
crm_token_allows_scope(const char *resource, const char *action)
{
	ListCell   *lc;
	ListCell   *nc;

	if (crm_crud_action_bit(action) != 0)
		return crm_token_allows(resource, crm_crud_action_bit(action));
	foreach(lc, token.scopes)
	{
		TokenScope *ts = lfirst(lc);

		if (strcmp(ts->resource, resource) != 0)
			continue;
		foreach(nc, ts->named)
			if (strcmp((char *) lfirst(nc), action) == 0)
				return true;
	}
	return false;
}

/* "leads.create, leads.read": the active token's scopes, for messages. */
const char *
crm_token_scope_list(void)
{
	return token.scope_list;
}

const char *
crm_token_name(void)
{
	return token.mode != TOKEN_NONE ? token.name : NULL;
}

static void
deny_invalid(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("token \"%s\" is no longer valid", token.name),
			 errdetail("It was revoked or it expired, or its principal can no longer be narrowed by a token."),
			 errhint("The token ends with this transaction; authenticate again with a valid token.")));
}

/*
 * Is the active token still valid?  Its row is re-read when crmperm's
 * catalog changed (revoke_token() changes it), its expiry compared at every
 * statement.
 */
static void
check_token_valid(void)
{
	uint64		version;

	if (token.dead)
		deny_invalid();

	if (token.mode == TOKEN_SESSION && GetOuterUserId() != token.principal)
	{
		token.dead = true;
		crm_audit_event(CRM_AUDIT_DENIAL, NULL, "role changed under a token", -1);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: the role of token \"%s\" was changed", token.name),
				 errdetail("A token acts as role \"%s\" only; this session switched away from it.",
						   GetUserNameFromId(token.principal, false)),
				 errhint("The token ends with this transaction; authenticate again.")));
	}

	AcceptInvalidationMessages();
	version = crm_catalog_version();
	if (version != token.checked_at)
	{
		Datum		arg = CStringGetTextDatum(token.name);
		Oid			argtype = TEXTOID;
		bool		valid = false;

		SPI_connect();
		crm_spi_execute("SELECT t.expires, t.revoked IS NULL"
						" AND crmperm._token_principal_problem(t.principal) IS NULL"
						" FROM crmperm.api_tokens t WHERE t.name OPERATOR(pg_catalog.=) $1",
						1, &argtype, &arg, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		expires = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			token.expires = isnull ? DT_NOEND : DatumGetTimestampTz(expires);
			valid = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_finish();
		if (!valid)
			token.dead = true;
		token.checked_at = version;
	}
	if (token.expires <= GetCurrentTimestamp())
		token.dead = true;
	if (token.dead)
		deny_invalid();
}

static bool
system_namespace(Oid nsp)
{
	if (!OidIsValid(information_schema_nsp))
		information_schema_nsp = get_namespace_oid("information_schema", true);
	return nsp == PG_CATALOG_NAMESPACE || nsp == PG_TOAST_NAMESPACE ||
		nsp == information_schema_nsp || nsp == get_namespace_oid("crmperm", true);
}

/*
 * Under a token, may this range table run?  Denials raise crmperm's error
 * (or return false when the caller only asks).
 */
bool
crm_token_check_range_table(List *rangeTable, List *perminfos, bool ereport_on_violation)
{
	ListCell   *lc;

	/*
	 * crmperm reading its catalog; foreign key checks run as the table owner;
	 * the body of a protected SECURITY DEFINER routine, whose call the token
	 * was checked for (actions.c)
	 */
	if (crm_cache_loading || InNoForceRLSOperation() ||
		(GetUserId() != token.principal && crm_in_protected_routine_as(GetUserId())))
		return true;
	check_token_valid();
	crm_extension_active_as_planned();	/* the relation cache, as planned */

	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst(lc);
		AclMode		perms = crm_required_perms(perminfos, rte);
		const CrmRelation *rel;
		Oid			roleid;
		int			needed;

		if (perms == 0 || crm_scope_rte(rte))
			continue;			/* (a relation a scope reads, sharing.c) */
		rel = crm_relation(rte->relid);
		if (rel == NULL)
		{
			if (rte->relkind == RELKIND_VIEW || system_namespace(get_rel_namespace(rte->relid)))
				continue;
			if (!ereport_on_violation)
				return false;
			crm_deny_token_relation(token.name, rte->relid);
		}
		roleid = crm_perm_role(crm_perminfo(perminfos, rte));
		if (roleid != token.principal)
		{
			if (!ereport_on_violation)
				return false;
			crm_deny_token_role(token.name, token.principal, roleid, rel->resource);
		}
		needed = crm_required_actions(perms);
		if (rte->relid == crm_scopes_row_check_relid())
			needed &= ~CRM_READ;	/* require(action, key): checked for the action */
		for (int i = 0; i < CRM_NACTIONS; i++)
		{
			int			a = crm_action_order[i];

			if ((needed & a) && !crm_token_allows(rel->resource, a))
			{
				if (!ereport_on_violation)
					return false;
				crm_deny_token_scope(token.name, token.scope_list, rel->resource, crm_action_name(a));
			}
		}
	}
	return true;
}

/*
 * Under a token, may this utility statement run?  Only statements that run
 * queries through the executor (checked there), or change nothing but the
 * session's own settings, cursors and prepared statements.
 */
void
crm_token_check_utility(Node *parsetree)
{
	if (crm_cache_loading)
		return;
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
			return;				/* COMMIT and ROLLBACK always run */
		case T_VariableSetStmt:
			{
				/* no check of the token's row: SET TRANSACTION needs no snapshot taken */
				const char *name = ((VariableSetStmt *) parsetree)->name;

				if (name && (strcmp(name, "role") == 0 ||
							 strcmp(name, "session_authorization") == 0))
				{
					crm_audit_event(CRM_AUDIT_DENIAL, NULL, name, -1);
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("permission denied: cannot change the role while token \"%s\" is active",
									token.name),
							 errdetail("A token acts as role \"%s\" only.",
									   GetUserNameFromId(token.principal, false)),
							 errhint("End the token with crmperm.logout() first.")));
				}
				return;
			}
		case T_DeclareCursorStmt:
			/* a session token too: the rows would stay readable after logout() */
			if (((DeclareCursorStmt *) parsetree)->options & CURSOR_OPT_HOLD)
			{
				crm_audit_event(CRM_AUDIT_DENIAL, NULL, "DECLARE CURSOR WITH HOLD", -1);
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied: cannot declare a WITH HOLD cursor under token \"%s\"",
								token.name),
						 errdetail("A held cursor outlives its transaction, and its rows would stay readable after the token ends."),
						 errhint("Declare the cursor WITHOUT HOLD.")));
			}
			break;
		case T_DiscardStmt:
			if (((DiscardStmt *) parsetree)->target == DISCARD_ALL &&
				token.mode == TOKEN_SESSION)
			{
				end_session_token();	/* DISCARD ALL resets the session */
				return;
			}
			break;
		case T_VariableShowStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_ExplainStmt:
		case T_CopyStmt:
		case T_CallStmt:
		case T_DoStmt:
		case T_ConstraintsSetStmt:
			break;
		default:
			check_token_valid();
			crm_deny_token_statement(token.name, GetCommandTagName(CreateCommandTag(parsetree)));
	}
	check_token_valid();
}

/* ---- keeping tokens out of the server log and every store of query text ---- */

/*
 * Where something shaped like a token starts in s (its secret
 * TOKEN_LEN - SECRET_LEN characters further), or NULL.  With redacted_too,
 * a token whose secret was overwritten with '*' is found too.
 */
static char *
find_token(const char *s, bool redacted_too)
{
	const char *p = s;

	while (s && (p = strstr(p, TOKEN_PREFIX)) != NULL)
	{
		size_t		prefix = strlen(TOKEN_PREFIX);
		bool		ok = strlen(p) >= TOKEN_LEN && p[prefix + KEY_ID_LEN] == '_';

		for (size_t i = prefix; ok && i < prefix + KEY_ID_LEN; i++)
			ok = isxdigit((unsigned char) p[i]);
		for (size_t i = prefix + KEY_ID_LEN + 1; ok && i < TOKEN_LEN; i++)
			ok = isalnum((unsigned char) p[i]) || p[i] == '-' || p[i] == '_' ||
				(redacted_too && p[i] == '*');
		if (ok)
			return (char *) p;
		p += prefix;
	}
	return NULL;
}

/* Overwrite the secret of every token in s with '*' (the key id stays). */
static void
redact(char *s)
{
	char	   *p;

	while ((p = find_token(s, false)) != NULL)
	{
		memset(p + TOKEN_LEN - SECRET_LEN, '*', SECRET_LEN);
		s = p + TOKEN_LEN;
	}
}

/*
 * Every message that goes to the server log: a token in its text (the
 * "statement: ..." line of log_statement, the "parameters: $1 = ..." detail
 * of a bind parameter, an error's context) loses its secret, and a statement
 * holding a token (even redacted) is not appended to the message.  Clients
 * get the same redacted message.  Called by crmperm's emit_log_hook
 * (messages.c).
 */
void
crm_tokens_redact(ErrorData *edata)
{
	if (edata->output_to_server)
	{
		redact(edata->message);
		redact(edata->detail);
		redact(edata->detail_log);
		redact(edata->hint);
		redact(edata->context);
		redact(edata->internalquery);
		if (find_token(debug_query_string, true))
			edata->hide_stmt = true;
	}
}

/*
 * The statement the client sent, wherever PostgreSQL keeps it: its text
 * (debug_query_string: pg_stat_activity, log lines), the running portal's
 * source text (pg_cursors, pg_stat_statements) and the prepared statement
 * the portal was made from (pg_prepared_statements, later Binds).  By the
 * time any hook runs it has been parsed (the parse trees hold their own
 * copies of literals, and a prepared statement is analysed again from its
 * tree, never its text), so secrets are overwritten in place, the length
 * unchanged (parse locations stay valid), and pg_stat_activity is given the
 * redacted text.
 */
static void
redact_client_statement(void)
{
	if (find_token(debug_query_string, false))
	{
		redact((char *) debug_query_string);
		if (!IsParallelWorker())
			pgstat_report_activity(STATE_RUNNING, debug_query_string);
	}
	if (ActivePortal)
	{
		redact((char *) ActivePortal->sourceText);
		if (ActivePortal->prepStmtName)
		{
			PreparedStatement *ps = FetchPreparedStatement(ActivePortal->prepStmtName, false);

			if (ps)
				redact((char *) ps->plansource->query_string);
		}
	}
}

/*
 * A statement's text as the stores of query text (pg_stat_statements,
 * pg_stat_activity, pg_prepared_statements, pg_cursors, the log) may see it.
 * The client's statement is redacted in place; any other text (a function's
 * own statement, whose text its owner may parse again) is left alone and a
 * redacted copy returned, for the caller to hand on.
 */
const char *
crm_token_redact_query(const char *text)
{
	char	   *copy;

	if (!find_token(text, false))
		return text;
	redact_client_statement();
	if (!find_token(text, false))
		return text;
	copy = pstrdup(text);
	redact(copy);
	return copy;
}

/* Statements and their nested statements, as pg_stat_statements records them. */
static void
tokens_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	pstate->p_sourcetext = crm_token_redact_query(pstate->p_sourcetext);
	/* (not at SET: a bad node token must not stop its own RESET; not at COMMIT) */
	if (!(query->commandType == CMD_UTILITY && (IsA(query->utilityStmt, VariableSetStmt) ||
												IsA(query->utilityStmt, TransactionStmt))))
		node_token_apply();
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
}

static void
tokens_executor_start(QueryDesc *queryDesc, int eflags)
{
	Oid			user;
	int			sec_context;
	bool		as_principal;

	queryDesc->sourceText = crm_token_redact_query(queryDesc->sourceText);
	node_token_apply();
	if (token.mode != TOKEN_NONE)
		crm_citus_token_statement(queryDesc->plannedstmt);
	crm_citus_governed_write(queryDesc->plannedstmt);
	as_principal = crm_token_as_principal(&user, &sec_context);
	PG_TRY();
	{
		if (prev_executor_start)
			prev_executor_start(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_FINALLY();
	{
		if (as_principal)
			SetUserIdAndSecContext(user, sec_context);
	}
	PG_END_TRY();
}

/*
 * Running as the relay role while Citus executes under a token: become the
 * principal again (true; the caller restores *user and *sec_context).  Not
 * for crmperm's own catalog queries, nor inside a SECURITY DEFINER function
 * (the current user is not the relay role there).
 */
bool
crm_token_as_principal(Oid *user, int *sec_context)
{
	if (!OidIsValid(window_user) || token.mode == TOKEN_NONE || crm_cache_loading ||
		GetUserId() != window_user)
		return false;
	GetUserIdAndSecContext(user, sec_context);
	SetUserIdAndSecContext(token.principal, *sec_context);
	return true;
}

/*
 * Every fetch under a token re-checks it: a cursor or protocol portal opened
 * earlier in the transaction reads nothing once the token was revoked or
 * expired.
 */
static void
tokens_executor_run(CRM_EXECUTOR_RUN_PARAMS)
{
	Oid			user;
	int			sec_context;
	bool		as_relay;
	Oid			was_window = window_user;

	if (token.mode != TOKEN_NONE && !crm_cache_loading && !IsParallelWorker())
		check_token_valid();

	/*
	 * Citus connects to other nodes as the relay role (see node tokens).
	 * Statements run inside that window (a function's, Citus's subplans,
	 * which send their results to other nodes) are planned and checked as
	 * the principal (crm_token_as_principal()) and run as the relay role.
	 * Otherwise the user is left alone: authenticate() may change it.
	 */
	as_relay = token.mode != TOKEN_NONE && crm_citus_token_statement(queryDesc->plannedstmt);
	GetUserIdAndSecContext(&user, &sec_context);
	if (as_relay)
	{
		window_user = crm_token_relay_role(true);
		SetUserIdAndSecContext(window_user, sec_context | SECURITY_LOCAL_USERID_CHANGE);
	}
	PG_TRY();
	{
		if (prev_executor_run)
			prev_executor_run(CRM_EXECUTOR_RUN_ARGS);
		else
			standard_ExecutorRun(CRM_EXECUTOR_RUN_ARGS);
	}
	PG_FINALLY();
	{
		if (as_relay)
			SetUserIdAndSecContext(user, sec_context);
		window_user = was_window;
	}
	PG_END_TRY();
}

/*
 * pg_stat_statements records a statement under the user it finished as.
 * authenticate() changed the user midway, so the entry made when the
 * statement was parsed (normalised: constants are $n) is not found, and a
 * new one would be made from its text (the key id of the token in it).  A
 * top-level statement whose text holds a token is therefore not recorded.
 */
static void
keep_token_out_of_statistics(void)
{
	ListCell   *lc;

	if (ActivePortal == NULL || !find_token(ActivePortal->sourceText, true))
		return;
	foreach(lc, ActivePortal->stmts)
	{
		PlannedStmt *stmt = lfirst_node(PlannedStmt, lc);

		stmt->queryId = UINT64CONST(0);
	}
}

/*
 * A cursor of this backend that would keep rows readable past a token, or
 * NULL: with pending_hold, one declared WITH HOLD and not yet persisted (it
 * is filled at commit, as whoever is the user then); otherwise any cursor
 * opened since the active token started.  Running portals (the statement
 * asking) do not count.
 */
static char *
cursor_in_the_way(bool pending_hold)
{
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *found = NULL;

	SPI_connect();
	crm_spi_execute("SELECT c.name FROM pg_catalog.pg_cursors c ORDER BY c.name",
					0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; found == NULL && i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		Portal		portal = GetPortalByName(name);

		if (portal == NULL || portal->status == PORTAL_ACTIVE)
			continue;
		if (pending_hold ? ((portal->cursorOptions & CURSOR_OPT_HOLD) &&
							portal->createSubid != InvalidSubTransactionId) :
			portal->creation_time >= token.started)
			found = MemoryContextStrdup(caller_context, name);
	}
	SPI_finish();
	return found;
}

/* ---- SQL-callable ---- */

/* SHA-256 of a token, with PostgreSQL's own implementation. */
static void
token_hash(const char *tok, size_t len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) tok, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* crmperm._token_secret(): key_id, token, hash of a new token. */
Datum
crmperm_token_secret(PG_FUNCTION_ARGS)
{
	uint8		key_id[KEY_ID_BYTES];
	uint8		secret[SECRET_BYTES];
	char		tok[TOKEN_LEN + 1];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	bytea	   *hash;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	char	   *p;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!pg_strong_random(key_id, sizeof(key_id)) || !pg_strong_random(secret, sizeof(secret)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random token")));

	strcpy(tok, TOKEN_PREFIX);
	p = tok + strlen(TOKEN_PREFIX);
	p += hex_encode((const char *) key_id, sizeof(key_id), p);
	*p++ = '_';
	b64url(secret, sizeof(secret), p);
	p += SECRET_LEN;
	Assert(p - tok == TOKEN_LEN);

	token_hash(tok, TOKEN_LEN, digest);
	hash = palloc(VARHDRSZ + sizeof(digest));
	SET_VARSIZE(hash, VARHDRSZ + sizeof(digest));
	memcpy(VARDATA(hash), digest, sizeof(digest));

	values[0] = PointerGetDatum(cstring_to_text_with_len(tok + strlen(TOKEN_PREFIX), KEY_ID_LEN));
	values[1] = CStringGetTextDatum(tok);
	values[2] = PointerGetDatum(hash);
	explicit_bzero(secret, sizeof(secret));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The one answer to every failed attempt, whatever the reason: SQLSTATE
 * 28000, the statement (which holds the token) kept out of the log.
 */
static void
fail_authentication(Oid login, const char *name)
{
	throttle_fail(login);
	crm_audit_auth(false, name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("token authentication failed"),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Record when a token was used: at most once a minute, on a primary, never
 * waiting for a row another transaction holds.
 */
static void
touch_token(const char *name)
{
	Datum		arg = CStringGetTextDatum(name);
	Oid			argtype = TEXTOID;

	if (RecoveryInProgress() || XactReadOnly)
		return;
	crm_spi_execute("WITH l AS (SELECT u.name FROM crmperm.token_usage u"
					" WHERE u.name OPERATOR(pg_catalog.=) $1 AND (u.last_used IS NULL"
					" OR u.last_used OPERATOR(pg_catalog.<) (pg_catalog.now()"
					" OPERATOR(pg_catalog.-) '1 minute'::pg_catalog.interval))"
					" FOR UPDATE SKIP LOCKED)"
					" UPDATE crmperm.token_usage u SET last_used = pg_catalog.now()"
					" FROM l WHERE u.name OPERATOR(pg_catalog.=) l.name",
					1, &argtype, &arg, SPI_OK_UPDATE);
}

/*
 * A token's row by key id: hash, name, principal, scopes, expires, and
 * whether it may be used now.
 */
#define TOKEN_ROW_QUERY \
	"SELECT t.hash, t.name, t.principal::pg_catalog.oid, t.scopes," \
	" t.expires, t.revoked IS NULL" \
	" AND (t.expires IS NULL OR t.expires OPERATOR(pg_catalog.>) pg_catalog.statement_timestamp())" \
	" AND crmperm._token_principal_problem(t.principal) IS NULL, t.key_id" \
	" FROM crmperm.api_tokens t WHERE t.key_id OPERATOR(pg_catalog.=) $1"

/* Become the principal of the token in tup (a TOKEN_ROW_QUERY row). */
static void
token_activate(HeapTuple tup, TupleDesc desc, bool session)
{
	bool		isnull;
	Datum		expires = SPI_getbinval(tup, desc, 5, &isnull);

	token_forget();
	token.expires = isnull ? DT_NOEND : DatumGetTimestampTz(expires);
	crm_clip_copy(token.name, TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
				  sizeof(token.name));
	strlcpy(token.key_id, TextDatumGetCString(SPI_getbinval(tup, desc, 7, &isnull)),
			sizeof(token.key_id));
	load_scopes(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)));
	token.principal = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	token.checked_at = crm_catalog_version();
	token.started = GetCurrentStatementStartTimestamp();
	token.subid = GetCurrentSubTransactionId();
	token.nest_level = GetCurrentTransactionNestLevel();
	GetUserIdAndSecContext(&token.saved_user, &token.saved_sec_context);
	SetUserIdAndSecContext(token.principal,
						   token.saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	token.mode = session ? TOKEN_SESSION_PENDING : TOKEN_TRANSACTION;
}

/* The SECRET_LEN base64url characters (no padding) of 32 bytes, terminated. */
static void
b64url(const uint8 *bytes, size_t len, char *out)
{
	char		b64[64];

	Assert(len == 32);
	if (crm_b64_encode(bytes, len, b64, sizeof(b64)) < SECRET_LEN)
		elog(ERROR, "could not encode a token");
	for (int i = 0; i < SECRET_LEN; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[SECRET_LEN] = '\0';
}

/* ---- the token on other nodes (Citus) ---- */

/*
 * Citus opens its connections to other nodes as the current role, which
 * under a token is the principal: a NOLOGIN role.  So a statement under a
 * token that reaches Citus tables runs Citus's execution as the relay role
 * (crmperm.citus_relay_role: a login role of the nodes alone, whose sessions
 * no client can watch), and every node it reaches is told, in the same
 * transaction (SET LOCAL crmperm.node_token), which token the statement
 * runs under:
 *
 *   crm_<key id>_<HMAC, 43 base64url characters>:<unix time it ends>:<login role>
 *
 * The HMAC-SHA-256 covers the key id, the end and the login role that
 * presented the token, keyed with SHA-256 of a label and crmperm's secret,
 * which every node holds (sync_node()) and no principal reads (a hash mask
 * is an HMAC with the secret itself: it cannot make one).  A node accepts it
 * only from a session of the relay role, before it ends (an hour), while the
 * token itself is valid there; then the transaction runs as the token's
 * principal, narrowed to its scopes, as if authenticate() had been called.
 * Shaped like a token, its HMAC is redacted from the server log and query
 * text stores; and only superusers read the setting.
 */
#define NODE_TOKEN_LIFETIME 3600
#define NODE_TOKEN_LABEL "crmperm node token key\n"

static void
node_token_mac(const char *key_id, int64 ends, const char *login, char *mac)
{
	const bytea *secret = crm_hash_key();
	pg_cryptohash_ctx *hash;
	uint8		key[PG_SHA256_DIGEST_LENGTH];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *message = psprintf("%s:" INT64_FORMAT ":%s", key_id, ends, login);

	if (secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crmperm has no secret on this node"),
				 errhint("Run crmperm.sync_node() on the Citus coordinator.")));
	hash = pg_cryptohash_create(PG_SHA256);
	if (hash == NULL ||
		pg_cryptohash_init(hash) < 0 ||
		pg_cryptohash_update(hash, (const uint8 *) NODE_TOKEN_LABEL, strlen(NODE_TOKEN_LABEL)) < 0 ||
		pg_cryptohash_update(hash, (const uint8 *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret)) < 0 ||
		pg_cryptohash_final(hash, key, sizeof(key)) < 0)
		elog(ERROR, "could not compute a node token");
	pg_cryptohash_free(hash);
	crm_hmac_sha256(key, sizeof(key), (const uint8 *) message, strlen(message), digest);
	explicit_bzero(key, sizeof(key));
	b64url(digest, sizeof(digest), mac);
}

/*
 * The node token of the active token, for the login role of this session.
 * Shaped like a token (crm_<key id>_<43 characters>, the HMAC in base64url),
 * so that whatever keeps tokens out of logs and query text stores keeps its
 * HMAC out too; the end and the login role follow.
 */
char *
crm_token_node_assertion(void)
{
	char		mac[SECRET_LEN + 1];
	char	   *login = GetUserNameFromId(GetSessionUserId(), false);
	int64		ends = (int64) time(NULL) + NODE_TOKEN_LIFETIME;

	Assert(token.mode != TOKEN_NONE);
	node_token_mac(token.key_id, ends, login, mac);
	return psprintf(TOKEN_PREFIX "%s_%s:" INT64_FORMAT ":%s", token.key_id, mac, ends, login);
}

/*
 * The role Citus connects as for statements under a token
 * (crmperm.citus_relay_role, the same on every node): a login role of the
 * nodes alone, so no client sees those sessions' statements, node tokens
 * included.  It must not bypass row security: statements planned while
 * Citus executes run as it.  InvalidOid when not set (must_exist: an error).
 */
Oid
crm_token_relay_role(bool must_exist)
{
	Oid			roleid = (relay_role && relay_role[0]) ? get_role_oid(relay_role, true) : InvalidOid;

	if (!OidIsValid(roleid))
	{
		if (!must_exist)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a token reaches Citus tables only through crmperm.citus_relay_role"),
				 errdetail("Citus connects to other nodes as the current role; the token's principal cannot log in."),
				 errhint("Create a LOGIN role that only the nodes use (NOSUPERUSER NOBYPASSRLS, no crmperm permissions), give Citus a way to connect as it, and set crmperm.citus_relay_role to it on every node.")));
	}
	if (superuser_arg(roleid) || has_bypassrls_privilege(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("crmperm.citus_relay_role \"%s\" must not be a superuser or bypass row security",
						relay_role)));
	return roleid;
}

static void
deny_node_token(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("crmperm.node_token is not valid here: %s", why),
			 errhint("crmperm sets it for the connections Citus opens under a token; present the token with crmperm.authenticate().")));
}

/*
 * At each statement: a node token set in this transaction (by the node that
 * sent the statement) makes the transaction run as its token's principal.
 */
static void
node_token_apply(void)
{
	char	   *value,
			   *login,
			   *p;
	char		key_id[KEY_ID_LEN + 1];
	char		mac[SECRET_LEN + 1];
	int64		ends;
	Datum		key;
	Oid			argtype = TEXTOID;
	bool		valid;
	bool		snapshot;

	if (node_token == NULL || node_token[0] == '\0' || token.mode != TOKEN_NONE ||
		crm_cache_loading || !IsTransactionState() || IsParallelWorker())
		return;
	value = pstrdup(node_token);
	/* crm_<key id>_<mac>:<end>:<login role> */
	if (find_token(value, false) != value || value[TOKEN_LEN] != ':')
		deny_node_token("it is malformed");
	memcpy(key_id, value + strlen(TOKEN_PREFIX), KEY_ID_LEN);
	key_id[KEY_ID_LEN] = '\0';
	ends = strtoi64(value + TOKEN_LEN + 1, &p, 10);
	if (*p != ':')
		deny_node_token("it is malformed");
	login = p + 1;
	if (GetSessionUserId() != crm_token_relay_role(false))
		deny_node_token("only crmperm.citus_relay_role presents one");
	if (ends < (int64) time(NULL))
		deny_node_token("it has ended");
	snapshot = !ActiveSnapshotSet();
	if (snapshot)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (!crm_catalog_present())
		deny_node_token("crmperm's catalog is not here");
	node_token_mac(key_id, ends, login, mac);
	if (timingsafe_bcmp(mac, value + TOKEN_LEN - SECRET_LEN, SECRET_LEN) != 0)
		deny_node_token("its signature does not match");

	key = CStringGetTextDatum(key_id);
	SPI_connect();
	crm_spi_execute(TOKEN_ROW_QUERY, 1, &argtype, &key, SPI_OK_SELECT);
	valid = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &(bool){false}));
	if (!valid)
	{
		SPI_finish();
		deny_node_token("its token was revoked or expired, or is not on this node");
	}
	token_activate(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, false);
	SPI_finish();
	if (snapshot)
		PopActiveSnapshot();
}

/*
 * crmperm.node_token is set for one transaction (SET LOCAL) by the node that
 * sends a statement: never as a role's or database's default, where it
 * would make every later session of a login role act as a token.
 */
static bool
check_node_token(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (source == PGC_S_GLOBAL || source == PGC_S_DATABASE || source == PGC_S_USER ||
		source == PGC_S_DATABASE_USER || source == PGC_S_TEST || source == PGC_S_FILE)
	{
		GUC_check_errmsg("crmperm.node_token can only be set in a session");
		return false;
	}
	return true;
}

/* crmperm.authenticate(token text, session boolean DEFAULT false) */
Datum
crmperm_authenticate(PG_FUNCTION_ARGS)
{
	bool		session = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	Oid			login = GetSessionUserId();
	text	   *arg;
	char	   *tok;
	size_t		len;
	int			wait;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint8		stored[PG_SHA256_DIGEST_LENGTH];
	bool		found = false;
	bool		valid = false;
	char	   *name = NULL;
	Oid			principal = InvalidOid;
	MemoryContext caller_context = CurrentMemoryContext;

	if (token.mode != TOKEN_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("token \"%s\" is already active", token.name),
				 errdetail("A second token does not replace the first, nor add to it."),
				 errhint("End the token with crmperm.logout() or by ending the transaction, then authenticate again."),
				 errhidestmt(true), errhidecontext(true)));
	if (InLocalUserIdChange() || InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("crmperm.authenticate() cannot be called in a SECURITY DEFINER function or a restricted operation"),
				 errhidestmt(true), errhidecontext(true)));
	if (session && GetOuterUserId() != login)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a session token needs the login role"),
				 errdetail("The session has switched to role \"%s\" with SET ROLE.",
						   GetUserNameFromId(GetOuterUserId(), false)),
				 errhint("Run RESET ROLE first."),
				 errhidestmt(true), errhidecontext(true)));

	{
		char	   *held = cursor_in_the_way(true);

		if (held)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("crmperm.authenticate() cannot run while cursor \"%s\" is declared WITH HOLD in this transaction",
							held),
					 errdetail("A held cursor is filled when the transaction commits, as the token's principal, and stays readable after the token ends."),
					 errhint("Close the cursor, or commit before authenticating."),
					 errhidestmt(true), errhidecontext(true)));
	}

	wait = throttle_wait(login);
	if (wait > 0)
	{
		crm_audit_auth(false, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("too many failed token authentications for role \"%s\"",
						GetUserNameFromId(login, false)),
				 errdetail("Further attempts are refused for %d more seconds.", wait),
				 errhidestmt(true), errhidecontext(true)));
	}

	if (PG_ARGISNULL(0))
		fail_authentication(login, NULL);
	arg = PG_GETARG_TEXT_PP(0);
	tok = text_to_cstring(arg);
	len = strlen(tok);
	if (len != TOKEN_LEN || find_token(tok, false) != tok)
		fail_authentication(login, NULL);
	token_hash(tok, len, digest);

	SPI_connect();
	{
		Datum		key = PointerGetDatum(cstring_to_text_with_len(tok + strlen(TOKEN_PREFIX),
																	KEY_ID_LEN));
		Oid			argtype = TEXTOID;

		crm_spi_execute(TOKEN_ROW_QUERY, 1, &argtype, &key, SPI_OK_SELECT);
	}
	explicit_bzero(tok, len);
	memset(stored, 0, sizeof(stored));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *hash = DatumGetByteaPP(SPI_getbinval(tup, desc, 1, &isnull));

		if (VARSIZE_ANY_EXHDR(hash) == sizeof(stored))
		{
			memcpy(stored, VARDATA_ANY(hash), sizeof(stored));
			found = true;
		}
		valid = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		name = MemoryContextStrdup(caller_context,
								   TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)));
		principal = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	}
	/* compared whatever was found, in constant time */
	if (timingsafe_bcmp(digest, stored, sizeof(digest)) != 0 || !found || !valid)
	{
		/* the name only when the secret matched: a key id alone proves nothing */
		if (!found || timingsafe_bcmp(digest, stored, sizeof(digest)) != 0)
			name = NULL;
		SPI_finish();
		fail_authentication(login, name);
	}

	/* the token holds: remember it, then become its principal */
	token_activate(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, session);
	touch_token(token.name);
	SPI_finish();
	MemoryContextSwitchTo(caller_context);
	keep_token_out_of_statistics();
	crm_audit_auth(true, token.name);
	PG_RETURN_OID(principal);
}

/* crmperm.logout(): end the active token now (nothing if none is active). */
Datum
crmperm_logout(PG_FUNCTION_ARGS)
{
	Oid			user;
	int			sec_context;

	char	   *open_cursor;

	if (token.mode == TOKEN_NONE)
		PG_RETURN_VOID();
	open_cursor = cursor_in_the_way(false);
	if (open_cursor)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crmperm.logout() cannot end token \"%s\" while cursor \"%s\" opened under it is open",
						token.name, open_cursor),
				 errdetail("The cursor reads as the token's principal."),
				 errhint("Close the cursor first, or end the transaction.")));
	GetUserIdAndSecContext(&user, &sec_context);
	if (token.mode == TOKEN_SESSION)
	{
		/* only at the top: a rollback of a savepoint would bring it back */
		if (GetCurrentTransactionNestLevel() != 1 || InLocalUserIdChange() ||
			InSecurityRestrictedOperation())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("crmperm.logout() cannot end a session token here"),
					 errdetail("It runs inside a savepoint, a SECURITY DEFINER function or a restricted operation."),
					 errhint("Call it as a statement of its own, outside savepoints.")));
		end_session_token();
		PG_RETURN_VOID();
	}
	if (GetCurrentTransactionNestLevel() != token.nest_level || user != token.principal ||
		sec_context != (token.saved_sec_context | SECURITY_LOCAL_USERID_CHANGE))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crmperm.logout() must be called where crmperm.authenticate() was"),
				 errdetail("It runs inside a savepoint or function that started after the token."),
				 errhint("Call it as a statement of its own, or end the transaction.")));
	SetUserIdAndSecContext(token.saved_user, token.saved_sec_context);
	token_forget();
	PG_RETURN_VOID();
}

/* crmperm._token_name(): the active token, for whoami(). */
Datum
crmperm_token_name(PG_FUNCTION_ARGS)
{
	if (token.mode == TOKEN_NONE)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(token.name));
}

void
crm_tokens_init(void)
{
	DefineCustomIntVariable("crmperm.token_max_failures",
							"Failed token authentications from one login role that lock it out.",
							NULL, &max_failures, 5, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crmperm.token_failure_window",
							"Time in which crmperm.token_max_failures failures lock a login role out.",
							NULL, &failure_window, 60, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("crmperm.token_lockout",
							"How long a locked-out login role's token authentications are refused.",
							NULL, &lockout, 300, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable("crmperm.node_token",
							   "Set by crmperm for Citus connections: the token a statement runs under.",
							   NULL, &node_token, "", PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE |
							   GUC_NO_RESET_ALL | GUC_SUPERUSER_ONLY,
							   check_node_token, NULL, NULL);
	DefineCustomStringVariable("crmperm.citus_relay_role",
							   "The login role Citus connects as for statements under a token.",
							   NULL, &relay_role, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = tokens_post_parse_analyze;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = tokens_executor_start;
	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = tokens_executor_run;
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = tokens_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = tokens_shmem_startup;

	token_context = AllocSetContextCreate(TopMemoryContext, "crmperm token",
										  ALLOCSET_SMALL_SIZES);
	RegisterXactCallback(tokens_xact_callback, NULL);
	RegisterSubXactCallback(tokens_subxact_callback, NULL);
}
