// The submission service (RFC 6409 on STARTTLS ports, RFC 8314 implicit TLS): the shared SMTP core with AUTH and its own Delivery.
import type { SubmissionConfig } from '../config/config.js';
import type { Delivery } from '../delivery.js';
import type { Mailboxes } from '../inbound/mailboxes.js';
import type { Logger } from '../observability/logger.js';
import { SmtpServer, type SmtpServerOptions } from '../smtp/server/listener.js';
import type { AuthService } from '../smtp/server/auth-service.js';
import type { ServerContext } from '../smtp/server/server-context.js';
import { AuthLimiter } from './auth-limiter.js';
import { PasswordChecker } from './password-checker.js';
import { loadPasswords, type Passwords } from './passwords-file.js';
import { MessageRateLimit } from './rate-limit.js';
import { SubmissionAuth } from './submission-auth.js';
import { SubmissionDelivery } from './submission-delivery.js';

export interface SubmissionOptions {
  readonly config: SubmissionConfig;
  /** The loopback relay's Delivery (the queue). */
  readonly relay: Delivery;
  readonly mailboxes: Mailboxes;
  /** The server context shared with the other servers (hostname, TLS, timeouts, logger), given this Delivery and AUTH. */
  readonly context: (delivery: Delivery, auth: AuthService) => ServerContext;
  readonly hostname: string;
  readonly logger: Logger;
  readonly now: () => Date;
  /** How the listeners are made (socket activation). */
  readonly serverOptions?: SmtpServerOptions;
}

export class SubmissionService {
  readonly server: SmtpServer;
  readonly #config: SubmissionConfig;
  readonly #checker: PasswordChecker;
  readonly #logger: Logger;
  #mailboxes: Mailboxes;

  private constructor(opts: SubmissionOptions, passwords: Passwords) {
    this.#config = opts.config;
    this.#logger = opts.logger;
    this.#mailboxes = opts.mailboxes;
    const ms = () => opts.now().getTime();
    const mailboxes = () => this.#mailboxes;
    this.#checker = new PasswordChecker({ passwords, now: ms });
    const delivery = new SubmissionDelivery({
      relay: opts.relay,
      mailboxes,
      rate: new MessageRateLimit({ maxPerHour: opts.config.maxMessagesPerHour, now: ms }),
      hostname: opts.hostname,
      now: opts.now,
    });
    const auth = new SubmissionAuth({
      mailboxes,
      checker: this.#checker,
      limiter: new AuthLimiter({ maxFailures: opts.config.maxAuthFailures, windowMs: opts.config.authFailureWindow, banMs: opts.config.authBan, now: ms }),
      logger: opts.logger,
      receivedShowsUser: opts.config.receivedShowsUser,
    });
    this.server = new SmtpServer(opts.context(delivery, auth), opts.serverOptions);
  }

  /** Reads the passwords file and binds every submission address; rejects with a BindError or a passwords file problem. */
  static async start(opts: SubmissionOptions): Promise<SubmissionService> {
    const passwords = await readPasswords(opts.config.passwordsFile, opts.logger);
    const service = new SubmissionService(opts, passwords);
    await service.server.listen(opts.config.listen, false);
    await service.server.listen(opts.config.listenTls, true);
    return service;
  }

  /** SIGHUP: the passwords file again, and the mailboxes (the addresses each user may send as). */
  async reload(mailboxes: Mailboxes): Promise<void> {
    const passwords = await readPasswords(this.#config.passwordsFile, this.#logger);
    this.#checker.setPasswords(passwords);
    this.#mailboxes = mailboxes;
  }
}

async function readPasswords(file: string, logger: Logger): Promise<Passwords> {
  const { passwords, warning } = await loadPasswords(file);
  if (warning !== null) logger.warn({ event: 'passwords-file', file }, warning);
  logger.info({ event: 'passwords-loaded', file, logins: passwords.size }, 'passwords loaded');
  return passwords;
}
