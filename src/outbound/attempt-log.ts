// The mail log line of one delivery attempt: one line per outcome (sent, deferred, bounced) with its recipients.
import type { Logger } from '../observability/logger.js';
import type { QueueItem, QueueRecipient } from './queue-item.js';
import type { TransferResult } from './courier.js';
import { tlsLogFields } from './tls-policy/tls-check.js';

/**
 * Queue id, recipients, relay host and IP, TLS version or "none", the remote reply, outcome, delay since arrival;
 * for remote deliveries the TLS policy's verdict: tls_policy, verified, and tls_reason / tls_failure when not verified.
 */
export function logAttempt(
  logger: Logger,
  item: QueueItem,
  tried: readonly QueueRecipient[],
  result: TransferResult,
  now: number,
  count?: (outcome: 'sent' | 'deferred' | 'bounced') => void,
): void {
  const kinds = { sent: 'sent', deferred: 'deferred', failed: 'bounced', pending: 'deferred' } as const;
  for (const outcome of ['sent', 'deferred', 'bounced'] as const) {
    const group = tried.filter((r) => kinds[r.status] === outcome);
    if (group.length === 0) continue;
    count?.(outcome);
    const replies = [...new Set(group.map((r) => r.diagnostic ?? ''))];
    logger.info(
      {
        event: 'attempt',
        id: item.id,
        domain: group[0]?.domain,
        recipients: group.map((r) => r.address),
        relay: result.relay?.host ?? null,
        ip: result.relay?.ip ?? null,
        tls: result.relay?.tls ?? 'none',
        ...(result.verdict != null ? tlsLogFields(result.verdict) : {}),
        reply: replies.join('; '),
        outcome,
        delay_s: Math.round((now - Date.parse(item.created)) / 1000),
      },
      `delivery attempt: ${outcome}`,
    );
  }
}
