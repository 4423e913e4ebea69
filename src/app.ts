// Wires both servers from the config: the same SMTP core, each with its own final step (Maildir or the queue).
import { mkdir } from 'node:fs/promises';
import type { Config } from './config/config.js';
import { InboundDelivery } from './inbound/inbound-delivery.js';
import { MaildirDelivery } from './inbound/maildir-delivery.js';
import { Mailboxes } from './inbound/mailboxes.js';
import type { Logger } from './observability/logger.js';
import { ConnectionCache } from './outbound/connection-cache.js';
import { MxResolver } from './outbound/mx-resolver.js';
import { LocalCourier } from './outbound/local-courier.js';
import { Relay } from './outbound/relay.js';
import { RoutingCourier } from './outbound/routing-courier.js';
import { SmtpCourier } from './outbound/smtp-courier.js';
import type { Delivery } from './delivery.js';
import { isLoopbackIp } from './net/loopback.js';
import { defaultClientTimeouts, type ClientTimeouts } from './smtp/client/smtp-client.js';
import { SmtpServer, type BoundAddress } from './smtp/server/listener.js';
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
    logger,
  });

  const servers: { name: 'inbound' | 'outbound'; server: SmtpServer }[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const context = (name: string, delivery: Delivery, limits: { maxMessageSize: number; maxRecipients: number; maxConnections: number }): ServerContext => ({
    name,
    hostname: config.hostname,
    delivery,
    limits: { ...limits, maxLineLength: MAX_LINE, maxErrors: MAX_ERRORS },
    timeouts: {
      command: config.timeouts.command,
      data: config.timeouts.data,
      tlsHandshake: Math.min(config.timeouts.command, 60_000),
      shutdownGrace: config.timeouts.shutdownGrace,
    },
    tls,
    logger: logger.child({ server: name }),
    now,
  });

  let local: MaildirDelivery | null = null;
  let relay: Relay | null = null;
  try {
    if (config.inbound.enabled) {
      const mailboxes = await Mailboxes.load(config.inbound);
      const maildirs = new MaildirDelivery({ root: config.inbound.maildirRoot, hostname: config.hostname, pid, now, logger, mailboxes });
      local = maildirs;
      cleanups.push(() => maildirs.close());
      const server = new SmtpServer(context('inbound', new InboundDelivery(maildirs, logger), config.inbound));
      servers.push({ name: 'inbound', server });
      await server.listen(config.inbound.listen, false);
      await server.listen(config.inbound.listenTls, true);
    }
    if (config.outbound.enabled) {
      const resolver = new MxResolver({ servers: config.outbound.dnsServers });
      // Sessions kept open between messages to the same server; closed after the queue (cleanups run in reverse).
      const cache = new ConnectionCache({ logger });
      cleanups.push(() => cache.close());
      const remote = new SmtpCourier({
        hostname: config.hostname,
        port: config.outbound.smtpPort,
        tls: config.outbound.tls,
        resolver,
        timeouts: clientTimeouts(config),
        logger,
        cache,
      });
      const maildirs = local;
      const courier = new RoutingCourier({
        remote,
        local: maildirs === null ? null : new LocalCourier(maildirs, config.hostname),
        isLocal: (domain) => maildirs !== null && maildirs.isLocalDomain(domain),
      });
      const r = await Relay.open({ config: config.outbound, hostname: config.hostname, dataDir: config.dataDir, courier, logger });
      relay = r;
      cleanups.push(() => r.close());
      // The relay takes mail from local programs only, whatever the config says (it cannot say otherwise).
      const server = new SmtpServer(context('outbound', r.delivery, config.outbound), { acceptPeer: isLoopbackIp });
      servers.push({ name: 'outbound', server });
      await server.listen(config.outbound.listen, false);
      await r.start();
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
    flushQueue: () => relay?.queue.flush(),
    async stop() {
      await Promise.allSettled(servers.map((s) => s.server.close()));
      for (const c of cleanups.reverse()) await c().catch((err) => logger.error({ err }, 'shutdown step failed'));
      logger.info({ event: 'stopped' }, 'facteur stopped');
    },
    async reload() {
      await tls.reload();
      if (local !== null) local.setMailboxes(await Mailboxes.load(config.inbound));
      logger.info({ event: 'reloaded' }, 'certificate and users reloaded; listen addresses and other settings need a restart');
    },
  };
}

/** The client's RFC 5321 §4.5.3.2 timeouts (smtp-client.ts), with connect, greeting and commands from the config. */
function clientTimeouts(config: Config): ClientTimeouts {
  return { ...defaultClientTimeouts, connect: config.timeouts.connect, greeting: config.timeouts.connect, command: config.timeouts.command };
}
