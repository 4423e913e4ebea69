// The server contexts of one running app (inbound, relay, submission): what each SMTP server reads of the config,
// kept so that a reload (SIGHUP) can hand every server its new limits and timeouts.
import type { Config } from './config/config.js';
import type { Delivery } from './delivery.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { ClientLimiter } from './smtp/server/client-limits.js';
import type { ServerContext } from './smtp/server/server-context.js';
import type { TlsProvider } from './tls/tls-context.js';

/** Longest command line we take, CRLF included: RFC 5321 §4.5.3.1.4's 512 plus room for ESMTP parameters. */
const MAX_LINE = 2048;
/** 4xx/5xx replies one session may collect before we hang up (as Postfix's smtpd_hard_error_limit). */
const MAX_ERRORS = 20;

/** The per-server limits of the config (inbound.*, outbound.*), and the pause before the greeting. */
export type SideLimits = Pick<ServerContext['limits'], 'maxMessageSize' | 'maxRecipients' | 'maxConnections' | 'maxIdleCommands' | 'maxSessionTime'> & {
  readonly greetPause: number;
};

/** What a server may have beyond the shared parts: defences at the door, AUTH. */
export type ContextExtras = Partial<Pick<ServerContext, 'clientScreen' | 'recipientPolicy' | 'auth'>> & { readonly clientLimits?: ClientLimiter };

type MutableContext = { -readonly [K in keyof ServerContext]: ServerContext[K] };

export class ServerContexts {
  readonly #made: { readonly ctx: MutableContext; readonly side: (c: Config) => SideLimits }[] = [];
  #config: Config;

  constructor(
    config: Config,
    private readonly shared: { readonly tls: TlsProvider; readonly logger: Logger; readonly now: () => Date; readonly metrics: Metrics },
  ) {
    this.#config = config;
  }

  /** A server's context; `side` picks its limits out of a config, now and at each reload. */
  make(name: string, delivery: Delivery, side: (c: Config) => SideLimits, extras: ContextExtras = {}): ServerContext {
    const { tls, logger, now, metrics } = this.shared;
    const ctx: MutableContext = {
      name,
      hostname: this.#config.hostname,
      delivery,
      limits: limitsOf(side(this.#config)),
      timeouts: timeoutsOf(this.#config, side(this.#config)),
      tls,
      logger: logger.child({ server: name }),
      now,
      metrics,
      clientLimits: extras.clientLimits ?? null,
      ...(extras.auth === undefined ? {} : { auth: extras.auth }),
      ...(extras.clientScreen === undefined ? {} : { clientScreen: extras.clientScreen }),
      ...(extras.recipientPolicy === undefined ? {} : { recipientPolicy: extras.recipientPolicy }),
    };
    this.#made.push({ ctx, side });
    return ctx;
  }

  /** A reload: every server reads its new limits and timeouts from `next` (sessions see them at their next check). */
  reload(next: Config): void {
    this.#config = next;
    for (const { ctx, side } of this.#made) {
      ctx.limits = limitsOf(side(next));
      ctx.timeouts = timeoutsOf(next, side(next));
    }
  }
}

function limitsOf(side: SideLimits): ServerContext['limits'] {
  return {
    maxMessageSize: side.maxMessageSize,
    maxRecipients: side.maxRecipients,
    maxConnections: side.maxConnections,
    maxIdleCommands: side.maxIdleCommands,
    maxSessionTime: side.maxSessionTime,
    maxLineLength: MAX_LINE,
    maxErrors: MAX_ERRORS,
  };
}

function timeoutsOf(c: Config, side: SideLimits): ServerContext['timeouts'] {
  return {
    command: c.timeouts.command,
    data: c.timeouts.data,
    tlsHandshake: Math.min(c.timeouts.command, 60_000),
    greetPause: side.greetPause,
    shutdownGrace: c.timeouts.shutdownGrace,
  };
}
