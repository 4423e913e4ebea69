// SPF, DKIM, DMARC and ARC as one end-of-DATA check of the inbound server (the MessageCheck contract): its verdict
// and its Authentication-Results header.
import type { Envelope, SessionInfo } from '../delivery.js';
import type { CheckRun, CheckVerdict, MessageCheck } from '../inbound/message-check.js';
import { formatAddress } from '../mail/address.js';
import type { Logger } from '../observability/logger.js';
import type { CheckResult, SessionFacts } from './message-checks.js';

/** One message's checks, in this thread (MessageChecks) or in the checks' own (ThreadedChecks). */
export interface ChecksRun {
  /** A promise when the caller should wait before the next chunk (the checks' thread is behind). */
  write(chunk: Buffer): void | Promise<void>;
  finish(): Promise<CheckResult>;
  /** The message will not be finished (the session ended, the store failed). */
  abort?(): void;
}

/** InboundChecks, or ThreadedChecks. */
export interface ChecksStarter {
  start(facts: SessionFacts): ChecksRun;
}

export class MailauthCheck implements MessageCheck {
  readonly name = 'mailauth';

  constructor(
    private readonly checks: ChecksStarter,
    private readonly logger: Logger,
  ) {}

  start(envelope: Envelope, session: SessionInfo): CheckRun {
    const run = this.checks.start({
      clientIp: session.remoteAddress,
      helo: session.heloName,
      mailFrom: envelope.reversePath === null ? null : formatAddress(envelope.reversePath),
    });
    const logger = this.logger;
    return {
      write: (chunk) => run.write(chunk),
      async finish(): Promise<CheckVerdict> {
        const o = await run.finish();
        const line = { event: 'auth-results', session: session.id, client: session.remoteAddress, results: o.summary, verdict: o.verdict };
        if (o.error !== undefined) logger.warn({ ...line, err: o.error }, 'mail authentication checks failed: every result is temperror');
        else logger.info(line, `mail authentication: ${o.summary}`);
        const header = o.header.endsWith('\n') ? o.header.slice(0, -1) : o.header;
        return o.reply === null ? { action: o.verdict, headers: [header] } : { action: o.verdict, reply: o.reply, headers: [header] };
      },
      abort: () => run.abort?.(),
    };
  }
}
