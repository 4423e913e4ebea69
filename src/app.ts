// Wires both servers from the config: the same SMTP core, each with its own final step (Maildir or the queue).
import { Resolver } from 'node:dns/promises';
import { mkdir } from 'node:fs/promises';
import type { Config } from './config/config.js';
import { InboundDelivery } from './inbound/inbound-delivery.js';
import { Mailboxes } from './inbound/mailboxes.js';
import type { Logger } from './observability/logger.js';
import { ConnectionCache } from './outbound/connection-cache.js';
import { MxResolver } from './outbound/mx-resolver.js';
import { OutboundQueue } from './outbound/outbound-queue.js';
import { localTransfer } from './outbound/local-transfer.js';
import { transfer } from './outbound/transfer.js';
import type { Delivery } from './delivery.js';
import { Dnsbl, type Resolve4 } from './dnsbl/dnsbl.js';
import { Greylist } from './greylist/greylist.js';
import { isLoopback, SmtpServer, type BoundAddress } from './smtp/server/listener.js';
import { ClientLimits } from './smtp/server/client-limits.js';
import type { ServerContext } from './smtp/server/server-context.js';
import { TlsContextProvider } from './tls/tls-context.js';

export interface RunningApp {
  /** Stop accepting at once, give sessions up to the grace period, then close them with 421. */
  stop(): Promise<void>;
  /** SIGHUP: re-read certificate and users. */
  reload(): Promise<void>;
  /** What was bound (port 0 resolved), per server. */
  listeners(): readonly (BoundAddress & { readonly server: 'inbound' | 'outbound' })[];
  /** Retry every queued message now (also reachable through `facteur queue flush`). */
  flushQueue(): void;
}

export interface AppDeps {
  readonly now?: () => Date;
  readonly pid?: number;
}

/** Longest command line we take, CRLF included: RFC 5321 §4.5.3.1.4's 512 plus room for ESMTP parameters. */
const MAX_LINE = 2048;
/** 4xx/5xx replies one session may collect before we hang up (as Postfix's smtpd_hard_error_limit). */
const MAX_ERRORS = 20;

/** Binds every listener of the enabled servers; rejects with a BindError naming the address and reason. */
export async function startApp(config: Config, logger: Logger, deps: AppDeps = {}): Promise<RunningApp> {
  const now = deps.now ?? (() => new Date());
  const pid = deps.pid ?? process.pid;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const tls = await TlsContextProvider.create({
    cert: config.tls.cert,
    key: config.tls.key,
    dataDir: config.dataDir,
    hostname: config.hostname,
    ciphers: config.tls.ciphers,
    minVersion: config.tls.minVersion,
    logger,
  });

  const servers: { name: 'inbound' | 'outbound'; server: SmtpServer }[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  type SideLimits = Pick<ServerContext['limits'], 'maxMessageSize' | 'maxRecipients' | 'maxConnections' | 'maxIdleCommands' | 'maxSessionTime'> & {
    readonly greetPause: number;
  };
  /** The defences at the door of a server: none for the loopback relay. */
  type Defences = Pick<ServerContext, 'clientLimits' | 'clientScreen' | 'recipientPolicy'>;
  const context = (name: string, delivery: Delivery, side: SideLimits, defences: Defences = { clientLimits: null }): ServerContext => ({
    name,
    hostname: config.hostname,
    delivery,
    limits: {
      maxMessageSize: side.maxMessageSize,
      maxRecipients: side.maxRecipients,
      maxConnections: side.maxConnections,
      maxIdleCommands: side.maxIdleCommands,
      maxSessionTime: side.maxSessionTime,
      maxLineLength: MAX_LINE,
      maxErrors: MAX_ERRORS,
    },
    timeouts: {
      command: config.timeouts.command,
      data: config.timeouts.data,
      tlsHandshake: Math.min(config.timeouts.command, 60_000),
      greetPause: side.greetPause,
      shutdownGrace: config.timeouts.shutdownGrace,
    },
    tls,
    logger: logger.child({ server: name }),
    now,
    ...defences,
  });

  let inbound: { delivery: InboundDelivery } | null = null;
  let queue: OutboundQueue | null = null;
  try {
    if (config.inbound.enabled) {
      const mailboxes = await Mailboxes.load(config.inbound);
      const delivery = new InboundDelivery({ config: config.inbound, hostname: config.hostname, pid, now, logger, mailboxes });
      inbound = { delivery };
      cleanups.push(() => delivery.close());
      const clientLimits = new ClientLimits({
        maxConnections: config.inbound.maxConnectionsPerClient,
        maxConnectionRate: config.inbound.maxConnectionRate,
        maxMessageRate: config.inbound.maxMessageRate,
        maxRecipientRate: config.inbound.maxRecipientRate,
        exempt: config.inbound.limitsExempt,
      });
      const exempt = config.inbound.limitsExempt;
      let clientScreen: Dnsbl | undefined;
      if (config.inbound.dnsbl.length > 0) {
        const dns = blocklistResolver(config);
        cleanups.push(async () => dns.cancel());
        clientScreen = new Dnsbl({ lists: config.inbound.dnsbl, timeoutMs: config.inbound.dnsblTimeout, resolve4: dns.resolve4, exempt, logger: logger.child({ server: 'inbound' }) });
      }
      let recipientPolicy: Greylist | undefined;
      if (config.inbound.greylist.enabled) {
        const greylist = Greylist.open({ rules: config.inbound.greylist, exempt, dataDir: config.dataDir, logger: logger.child({ server: 'inbound' }), now: () => now().getTime() });
        recipientPolicy = greylist;
        cleanups.push(() => greylist.close());
      }
      // The rspamd check (src/rspamd) runs once the inbound delivery runs message checks; until then, say so.
      if (config.inbound.rspamd !== null) logger.warn({ event: 'rspamd-not-applied' }, '[inbound.rspamd] is set, but this build does not hand messages to checks yet');
      const server = new SmtpServer(context('inbound', delivery, config.inbound, { clientLimits, clientScreen, recipientPolicy }));
      servers.push({ name: 'inbound', server });
      await server.listen(config.inbound.listen, false);
      await server.listen(config.inbound.listenTls, true);
    }
    if (config.outbound.enabled) {
      const resolver = new MxResolver({ servers: config.outbound.dnsServers });
      // Sessions kept open between messages to the same server; closed after the queue (cleanups run in reverse).
      const cache = new ConnectionCache({ logger });
      cleanups.push(() => cache.close());
      const transferOptions = {
        hostname: config.hostname,
        port: config.outbound.smtpPort,
        tls: config.outbound.tls,
        resolver,
        timeouts: clientTimeouts(config),
        logger,
        cache,
      };
      const q = await OutboundQueue.open({
        config: config.outbound,
        hostname: config.hostname,
        dataDir: config.dataDir,
        // Our own domains are delivered to the Maildir directly (as Postfix's local transport would).
        transfer: (req) =>
          inbound !== null && config.inbound.domains.includes(req.domain)
            ? localTransfer(req, inbound.delivery, config.hostname)
            : transfer(req, transferOptions),
        logger,
      });
      queue = q;
      cleanups.push(() => q.close());
      // The relay takes mail from local programs only, whatever the config says (it cannot say otherwise).
      // Local programs are not screened: no pause before the greeting.
      const server = new SmtpServer(context('outbound', q.delivery, { ...config.outbound, greetPause: 0 }), { acceptPeer: isLoopback });
      servers.push({ name: 'outbound', server });
      await server.listen(config.outbound.listen, false);
      await q.start();
    }
  } catch (err) {
    await Promise.allSettled(servers.map((s) => s.server.close()));
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw err;
  }

  const listeners = servers.flatMap(({ name, server }) => server.addresses().map((a) => ({ ...a, server: name })));
  // Every line already carries the process's pid (the logger's base); the one in Maildir names is said only if it differs.
  logger.info({ event: 'started', hostname: config.hostname, ...(pid === process.pid ? {} : { maildir_pid: pid }), listeners: listeners.map((l) => `${l.server} ${l.text}${l.implicitTls ? ' tls' : ''}`) }, 'facteur started');

  return {
    listeners: () => listeners,
    flushQueue: () => queue?.flush(),
    async stop() {
      await Promise.allSettled(servers.map((s) => s.server.close()));
      for (const c of cleanups.reverse()) await c().catch((err) => logger.error({ err }, 'shutdown step failed'));
      logger.info({ event: 'stopped' }, 'facteur stopped');
    },
    async reload() {
      await tls.reload();
      if (inbound !== null) inbound.delivery.setMailboxes(await Mailboxes.load(config.inbound));
      logger.info({ event: 'reloaded' }, 'certificate and users reloaded; listen addresses and other settings need a restart');
    },
  };
}

/**
 * The DNS lookups of the blocklists, through outbound.dns_servers or the system's resolver. Kept in this one
 * function so the program-wide resolver (src/dns/) can take its place: anything shaped like Resolver#resolve4 fits.
 */
function blocklistResolver(config: Config): { resolve4: Resolve4; cancel: () => void } {
  // One try within the blocklists' time limit: past it the client is let in anyway.
  const resolver = new Resolver({ timeout: config.inbound.dnsblTimeout, tries: 1 });
  if (config.outbound.dnsServers.length > 0) resolver.setServers(config.outbound.dnsServers);
  return { resolve4: (name, options) => resolver.resolve4(name, options), cancel: () => resolver.cancel() };
}

/** RFC 5321 §4.5.3.2 client timeouts; connect and greeting from the config. */
function clientTimeouts(config: Config) {
  return {
    connect: config.timeouts.connect,
    greeting: config.timeouts.connect,
    command: config.timeouts.command,
    dataInit: 2 * 60_000,
    dataBlock: 3 * 60_000,
    dataEnd: 10 * 60_000,
  };
}
