// What every command handler may use besides the session: the server's settings and its final step.
import type { Delivery, SessionInfo } from '../../delivery.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { TlsProvider } from '../../tls/tls-context.js';
import type { Address } from '../../mail/address.js';
import type { Reply } from '../../mail/reply.js';
import type { ClientLimiter } from './client-limits.js';
import type { AuthService } from './auth-service.js';

export interface ServerLimits {
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  /** Longest command line accepted, CRLF included (RFC 5321 §4.5.3.1.4 asks for at least 512). */
  readonly maxLineLength: number;
  /** 4xx/5xx replies after which the session is closed with 421. */
  readonly maxErrors: number;
  /** Command lines in a row without an accepted message, after which the session is closed with 421. */
  readonly maxIdleCommands: number;
  /** Longest a session may last, in ms; checked before each command (421 after it). */
  readonly maxSessionTime: number;
}

export interface ServerTimeouts {
  /** Waiting for a command (RFC 5321 §4.5.3.2.7: at least 5 minutes). */
  readonly command: number;
  /** Waiting for the next DATA block (§4.5.3.2.7 too). */
  readonly data: number;
  /** TLS handshake, implicit or after STARTTLS. */
  readonly tlsHandshake: number;
  /** Silence asked of a new client before we greet it; 0: none (only bytes already received count). */
  readonly greetPause: number;
  /** Shutdown: how long transactions in flight may take before 421. */
  readonly shutdownGrace: number;
}

export interface ServerContext {
  /** "inbound" or "outbound", for logs. */
  readonly name: string;
  readonly hostname: string;
  readonly delivery: Delivery;
  readonly limits: ServerLimits;
  readonly timeouts: ServerTimeouts;
  /** null: no STARTTLS offered and no implicit TLS listener possible. */
  readonly tls: TlsProvider | null;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Where sessions, messages and recipients are counted. */
  readonly metrics: Metrics;
  /** Per-client connection and rate limits; null: none (the loopback relay). */
  readonly clientLimits: ClientLimiter | null;
  /** SMTP AUTH (RFC 4954), offered under TLS; absent: the AUTH command is not implemented (502). */
  readonly auth?: AuthService;
  /** Asked about each new client while the greeting pause runs (DNS blocklists); absent: every client is greeted. */
  readonly clientScreen?: ClientScreen;
  /** Asked about each recipient the delivery accepted (greylisting); absent: none. */
  readonly recipientPolicy?: RecipientPolicy;
}

/** A client refused before the greeting: the reply it gets instead, and why, for the log. */
export interface ClientRefusal {
  readonly reply: Reply;
  readonly reason: string;
}

export interface ClientScreen {
  /** null lets the client in. Never rejects, and settles within its own time limit (a slow answer lets mail through). */
  screen(ip: string): Promise<ClientRefusal | null>;
}

export interface RecipientPolicy {
  /** null accepts the recipient; a reply (451 4.7.1 greylisted) refuses it. Never rejects. */
  check(session: SessionInfo, reversePath: Address | null, recipient: Address): Reply | null | Promise<Reply | null>;
}
