/*-------------------------------------------------------------------------
 * messages.c
 *		crmperm's one emit_log_hook: every message, on its way to the server
 *		log and the client.
 *
 * A token's secret is redacted wherever the message goes (tokens.c), and
 * auto_explain's plans, which carry actual row counts, are kept from the
 * client of a governed transaction (sidechannels.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "crmperm.h"

static emit_log_hook_type prev_emit_log = NULL;

static void
crm_emit_log(ErrorData *edata)
{
	crm_tokens_redact(edata);
	crm_side_channels_message(edata);
	if (prev_emit_log)
		prev_emit_log(edata);
}

void
crm_messages_init(void)
{
	prev_emit_log = emit_log_hook;
	emit_log_hook = crm_emit_log;
}
