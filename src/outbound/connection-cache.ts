// Idle SMTP sessions kept after a completed transaction, keyed by "ip:port", for the next message to the same server.
import type { Logger } from '../observability/logger.js';
import type { SmtpClient } from '../smtp/client/smtp-client.js';
import type { TlsVerdict } from './tls-policy/tls-check.js';

export interface ConnectionCacheOptions {
  /** How long a session may wait unused before it is closed (Postfix's smtp_connection_cache_time_limit is 2 s). */
  readonly idleMs?: number;
  /** Transactions on one connection before it is closed instead of kept (Postfix: smtp_connection_reuse_count_limit). */
  readonly maxTransactions?: number;
  /** Idle sessions kept in all: beyond this a finished session is closed instead. */
  readonly maxIdle?: number;
  /** How long closing waits for the server's reply to QUIT before dropping the connection. */
  readonly quitMs?: number;
  readonly logger?: Logger;
}

/** A session taken from the cache: already greeted, EHLO'd and in TLS as negotiated; its last transaction is complete. */
export interface CachedConnection {
  readonly client: SmtpClient;
  /** Transactions already completed on it. */
  readonly transactions: number;
  /** The MX host name it was opened for: a certificate is verified for a name, and two names may share an address. */
  readonly host: string;
  /** What the TLS policy of that host made of the session when it was opened (tls-policy/tls-check.ts). */
  readonly verdict: TlsVerdict;
}

interface Entry extends CachedConnection {
  readonly key: string;
  /** The signal the client was connected with: its waits stop when it fires, so it is only handed to the same caller. */
  readonly signal: AbortSignal | undefined;
  readonly timer: NodeJS.Timeout;
}

/**
 * RFC 5321 §3.3 lets a client start a new MAIL right after a completed transaction on the same session, so a
 * relay sending many messages to one server need not pay a TCP connection, greeting, EHLO and TLS handshake for
 * each (Postfix's scache does the same). A session the server closed while idle is not seen here until it is
 * used: the caller treats a failure at MAIL on a cached session as "stale" and opens a fresh one.
 */
export class ConnectionCache {
  readonly #idleMs: number;
  readonly #maxTransactions: number;
  readonly #maxIdle: number;
  readonly #quitMs: number;
  readonly #logger: Logger | undefined;
  /** Idle sessions per key, oldest first. */
  readonly #idle = new Map<string, Entry[]>();
  /** QUITs in progress, waited for by close(). */
  readonly #closing = new Set<Promise<void>>();
  #size = 0;
  #closed = false;

  constructor(opts: ConnectionCacheOptions = {}) {
    this.#idleMs = opts.idleMs ?? 2_000;
    this.#maxTransactions = opts.maxTransactions ?? 100;
    this.#maxIdle = opts.maxIdle ?? 100;
    this.#quitMs = opts.quitMs ?? 1_000;
    this.#logger = opts.logger;
  }

  /** Idle sessions held now. */
  get size(): number {
    return this.#size;
  }

  /** The most recently used idle session for `key` connected with the same signal, or null; it leaves the cache. */
  take(key: string, signal?: AbortSignal): CachedConnection | null {
    const list = this.#idle.get(key);
    if (list === undefined) return null;
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i] as Entry;
      if (entry.signal !== signal) continue;
      this.#remove(entry);
      return { client: entry.client, transactions: entry.transactions, host: entry.host, verdict: entry.verdict };
    }
    return null;
  }

  /**
   * Keeps a session whose last transaction is complete (`transactions` counts it), with the host and TLS verdict it
   * was opened with, so that the next user can judge it against its own policy. It is closed instead when it has
   * done its share, when the cache is full or closed.
   */
  put(key: string, session: CachedConnection, signal?: AbortSignal): void {
    const { client, transactions } = session;
    if (this.#closed || transactions >= this.#maxTransactions || this.#size >= this.#maxIdle || signal?.aborted === true) {
      this.#quit(client);
      return;
    }
    const timer = setTimeout(() => {
      this.#remove(entry);
      this.#logger?.debug({ remote: client.remote }, 'connection cache: closing idle connection');
      this.#quit(client);
    }, this.#idleMs);
    // An idle session must not keep the process alive.
    timer.unref();
    const entry: Entry = { ...session, key, signal, timer };
    let list = this.#idle.get(key);
    if (list === undefined) {
      list = [];
      this.#idle.set(key, list);
    }
    list.push(entry);
    this.#size++;
  }

  /** QUITs every idle session (bounded wait) and closes whatever is put back afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const list of [...this.#idle.values()]) {
      for (const entry of [...list]) {
        this.#remove(entry);
        this.#quit(entry.client);
      }
    }
    await Promise.allSettled([...this.#closing]);
  }

  #remove(entry: Entry): void {
    clearTimeout(entry.timer);
    const list = this.#idle.get(entry.key);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i < 0) return;
    list.splice(i, 1);
    this.#size--;
    if (list.length === 0) this.#idle.delete(entry.key);
  }

  /** QUIT, but a server slow to answer is not waited for longer than quitMs: the connection is dropped then. */
  #quit(client: SmtpClient): void {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#quitMs);
    });
    const done = Promise.race([client.quit(), bound]).finally(() => {
      clearTimeout(timer);
      client.close();
      this.#closing.delete(done);
    });
    this.#closing.add(done);
  }
}
