// LMTP sessions kept open between transactions (RFC 2033 §4.2 allows many per session): fewer connects and LHLOs.
import type { Reply } from '../mail/reply.js';
import type { Logger } from '../observability/logger.js';
import type { LmtpClient } from '../smtp/client/lmtp-client.js';
import { isClientError } from '../smtp/client/client-errors.js';

/** Idle sessions kept at most, and for how long (the server's own idle limit is longer: Dovecot's is 5 minutes). */
const MAX_IDLE = 64;
const IDLE_MS = 10_000;

interface Idle {
  readonly client: LmtpClient;
  readonly timer: NodeJS.Timeout;
}

export class LmtpSessions {
  #idle: Idle[] = [];
  #closed = false;

  constructor(
    private readonly connect: () => Promise<LmtpClient>,
    private readonly logger: Logger,
  ) {}

  /**
   * MAIL FROM on an idle session, or on a new one. An idle session the server closed meanwhile fails at once: that
   * one is dropped and the next tried, then a new connection (whose failure is thrown: the server is unavailable).
   */
  async mail(params: (c: LmtpClient) => string[], from: string): Promise<{ client: LmtpClient; reply: Reply }> {
    for (let idle = this.#take(); idle !== null; idle = this.#take()) {
      try {
        return { client: idle, reply: await idle.mail(from, params(idle)) };
      } catch (err) {
        if (!isClientError(err)) throw err;
        idle.close();
        this.logger.debug({ err: (err as Error).message }, 'lmtp: idle session lost, trying another');
      }
    }
    const client = await this.connect();
    try {
      return { client, reply: await client.mail(from, params(client)) };
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** A session whose transaction is over (its final replies read, or MAIL refused): kept for the next one. */
  give(client: LmtpClient): void {
    if (this.#closed || this.#idle.length >= MAX_IDLE) {
      void client.quit();
      return;
    }
    const timer = setTimeout(() => {
      this.#idle = this.#idle.filter((i) => i.client !== client);
      void client.quit();
    }, IDLE_MS);
    timer.unref();
    this.#idle.push({ client, timer });
  }

  /** A session left in a transaction (recipients given, no data): RSET, then kept; dropped if RSET fails. */
  reset(client: LmtpClient): void {
    client.rset().then(
      (r) => (r.code === 250 ? this.give(client) : client.close()),
      () => client.close(),
    );
  }

  /** Quits every idle session; sessions in use end with their transaction. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle;
    this.#idle = [];
    await Promise.all(idle.map((i) => (clearTimeout(i.timer), i.client.quit())));
  }

  #take(): LmtpClient | null {
    const idle = this.#idle.pop();
    if (idle === undefined) return null;
    clearTimeout(idle.timer);
    return idle.client;
  }
}
