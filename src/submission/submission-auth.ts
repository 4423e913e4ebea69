// The AuthService of the submission server: which mechanisms, who may log in, and what a failed login costs the client.
import type { SessionInfo } from '../delivery.js';
import type { Mailboxes } from '../inbound/mailboxes.js';
import type { Logger } from '../observability/logger.js';
import { replies } from '../smtp/replies.js';
import type { AuthService, SaslExchange, SaslFailure, SaslStep } from '../smtp/server/auth-service.js';
import type { AuthLimiter } from './auth-limiter.js';
import type { PasswordChecker } from './password-checker.js';
import { loginKey } from './passwords-file.js';
import { LoginExchange, PlainExchange } from './sasl-mechanisms.js';

export interface SubmissionAuthOptions {
  /** The current mailboxes (they change on SIGHUP). */
  readonly mailboxes: () => Mailboxes;
  readonly checker: PasswordChecker;
  readonly limiter: AuthLimiter;
  readonly logger: Logger;
  /** submission.received_shows_user */
  readonly receivedShowsUser: boolean;
  /** Waits before a 535 (tests may pass one that does not wait). */
  readonly delay?: (ms: number) => Promise<void>;
}

/** A login as shown in the log: the client chose it, so it is cut short. */
const shown = (login: string): string => (login.length > 100 ? `${login.slice(0, 100)}…` : login);

export class SubmissionAuth implements AuthService {
  readonly mechanisms = ['PLAIN', 'LOGIN'] as const;
  readonly #opts: SubmissionAuthOptions;
  readonly #delay: (ms: number) => Promise<void>;

  constructor(opts: SubmissionAuthOptions) {
    this.#opts = opts;
    this.#delay = opts.delay ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  start(mechanism: string, session: SessionInfo): SaslExchange | SaslFailure {
    const until = this.#opts.limiter.bannedUntil(session.remoteAddress);
    if (until !== null) {
      // No password is even looked at: a banned address only learns that it is banned.
      this.#opts.logger.info({ event: 'auth-refused', client: session.remoteAddress, session: session.id, until: new Date(until).toISOString() }, 'login refused: address banned after failed logins');
      return { kind: 'failure', reply: replies.authBanned(), close: true };
    }
    const verify = (authzid: string, authcid: string, password: string) => this.#verify(session, mechanism, authzid, authcid, password);
    if (mechanism === 'PLAIN') return new PlainExchange(verify);
    if (mechanism === 'LOGIN') return new LoginExchange(verify);
    return { kind: 'failure', reply: replies.authUnknownMechanism(mechanism.slice(0, 20)) };
  }

  async #verify(session: SessionInfo, mechanism: string, authzid: string, login: string, password: string): Promise<SaslStep> {
    const key = loginKey(login.trim());
    const at = key.lastIndexOf('@');
    const mailbox = at > 0 ? this.#opts.mailboxes().lookup({ local: key.slice(0, at), domain: key.slice(at + 1) }) : null;
    // The password is checked even when the login names no mailbox, so that the answer takes as long either way.
    const ok = await this.#opts.checker.check(key, password);
    // No proxy logins: an authorization identity, if given, must be the user itself (RFC 4616 §2).
    if (ok && mailbox !== null && (authzid === '' || loginKey(authzid) === key)) {
      return { kind: 'success', identity: { login: key, mailbox, receivedAs: this.#opts.receivedShowsUser ? key : null } };
    }
    const { failures, delayMs, bannedUntil } = this.#opts.limiter.fail(session.remoteAddress);
    // One line per failure, "event" then "client" first, so that a fail2ban filter can match the address
    // (examples/fail2ban/) without the client-chosen login ever coming before it.
    this.#opts.logger.warn({ event: 'auth-failed', client: session.remoteAddress, login: shown(login), mechanism, session: session.id, failures }, 'authentication failed');
    if (bannedUntil !== null) {
      this.#opts.logger.warn({ event: 'auth-ban', client: session.remoteAddress, until: new Date(bannedUntil).toISOString(), failures }, 'too many failed logins: address banned');
    }
    await this.#delay(delayMs);
    return { kind: 'failure', reply: replies.authFailed() };
  }
}
