// Wires both servers from the config: the same SMTP core, each with its own final step (Maildir or the queue).
import { mkdir } from 'node:fs/promises';
import type { Config } from './config/config.js';
import { InboundDelivery } from './inbound/inbound-delivery.js';
import { MaildirDelivery } from './inbound/maildir-delivery.js';
import { Mailboxes } from './inbound/mailboxes.js';
import { setUpStore } from './inbound/store-setup.js';
import { requeueThrough, type Requeue } from './inbound/requeue.js';
import { setLogLevel, type Logger } from './observability/logger.js';
import { restartNeeded } from './config/config-diff.js';
import { ConnectionCache } from './outbound/connection-cache.js';
import { MxResolver } from './outbound/mx-resolver.js';
import { LocalCourier } from './outbound/local-courier.js';
import { Relay } from './outbound/relay.js';
import { RoutingCourier } from './outbound/routing-courier.js';
import { SmtpCourier } from './outbound/smtp-courier.js';
import { createOutboundTls } from './outbound/tls-policy/outbound-tls.js';
import type { Delivery } from './delivery.js';
import { isLoopbackIp } from './net/loopback.js';
import { defaultClientTimeouts, type ClientTimeouts } from './smtp/client/smtp-client.js';
import { SmtpServer, toBindError, type BoundAddress } from './smtp/server/listener.js';
import { Metrics, type QueueGaugeSource } from './observability/metrics.js';
import { fsyncDirectory } from './fs/directory.js';
import { GroupFsync } from './fs/group-fsync.js';
import { DkimKeys } from './mailauth/dkim-keys.js';
import { MailauthCheck } from './mailauth/mailauth-check.js';
import { ThreadedChecks } from './mailauth/threaded-checks.js';
import { ThreadedSigning } from './mailauth/threaded-signing.js';
import { DnsResolver } from './dns/dns-resolver.js';
import { DkimSigner } from './mailauth/dkim-signer.js';
import { errorText } from './observability/error-text.js';
import { startMetricsServer } from './observability/metrics-server.js';
import { Dnsbl, type Resolve4 } from './dnsbl/dnsbl.js';
import type { MessageCheck } from './inbound/message-check.js';
import { Greylist } from './greylist/greylist.js';
import { RspamdCheck } from './rspamd/rspamd-check.js';
import { ClientLimits, type ClientLimiter } from './smtp/server/client-limits.js';
import type { RecipientPolicy } from './smtp/server/server-context.js';
import { OutboundDelivery } from './outbound/outbound-delivery.js';
import { QueueStore } from './outbound/queue-store.js';
import type { ClusterPart } from './workers/cluster-part.js';
import { takeInherited, type InheritedSocket } from './systemd/inherited-sockets.js';
import type { ServerContext } from './smtp/server/server-context.js';
import { ServerContexts, type ContextExtras, type SideLimits } from './server-contexts.js';
import { SubmissionService } from './submission/submission-server.js';
import { TlsContextProvider } from './tls/tls-context.js';
import { InboundRouting } from './routing/inbound-routing.js';
import { Router } from './routing/router.js';
import { loadSrs, logAliasProblems, routerDeps, routerSettings } from './routing/routing-setup.js';
import { RoutedLocalCourier } from './routing/routed-local-courier.js';

export interface RunningApp {
  /** Stop accepting at once, give sessions up to the grace period, then close them with 421. */
  stop(): Promise<void>;
  /**
   * SIGHUP with the config file read again (or the current one): users, local domains, limits, certificate,
   * passwords, DKIM keys and log level are applied; the other changes are logged as needing a restart.
   */
  reload(next?: Config): Promise<void>;
  /** What was bound (port 0 resolved), per server. */
  listeners(): readonly (BoundAddress & { readonly server: ServerName })[];
  /** Retry every queued message now (also reachable through `facteur queue flush`). */
  flushQueue(): void;
  /** "127.0.0.1:9187" where /metrics is served, or null. */
  metricsAddress(): string | null;
  /** Closes the listeners at once (the rest of stop() may wait for workers first); stop() does it too. */
  stopAccepting(): Promise<void>;
  /** What the primary of worker processes keeps for the whole server and answers the workers about (src/workers). */
  shared(): SharedState;
}

export interface SharedState {
  readonly clientLimits: ClientLimits | null;
  readonly greylist: Greylist | null;
  readonly relay: Relay | null;
  readonly metrics: Metrics;
}

export type ServerName = 'inbound' | 'outbound' | 'submission';

export interface AppDeps {
  readonly now?: () => Date;
  readonly pid?: number;
  /** Listening sockets handed over by systemd; each configured address found there is used instead of bound. */
  readonly inherited?: InheritedSocket[];
  /** Where everything is counted (a fresh registry by default). */
  readonly metrics?: Metrics;
  /** The DKIM keys of dkim.domains, loaded and checked by the caller (`start` refuses a listed domain without one). */
  readonly dkimKeys?: DkimKeys;
  /** The port MTA-STS policies are fetched from (443, RFC 8461 §3.3); tests serve them on a free port of 127.0.0.x. */
  readonly mtaStsPort?: number;
  /** Worker processes (src/workers): this process's part, primary or worker; absent: one process does everything. */
  readonly cluster?: ClusterPart;
}


/** Binds every listener of the enabled servers; rejects with a BindError naming the address and reason. */
export async function startApp(config: Config, logger: Logger, deps: AppDeps = {}): Promise<RunningApp> {
  const now = deps.now ?? (() => new Date());
  const pid = deps.pid ?? process.pid;
  const metrics = deps.metrics ?? new Metrics();
  const part = deps.cluster;
  const worker = part?.role === 'worker' ? part : null;
  if (part?.role === 'primary') metrics.aggregateWith(part.workerMetrics);
  // Where each server's connections come from: bound here, handed to workers from here, or handed over to us.
  const serverPart = part === undefined ? {} : part.role === 'primary' ? { handOff: part.handOff } : { takeOver: part.takeOver };
  // One resolver and one cache for every lookup of the program (INTERFACE.md: dns_servers); the relay's own
  // outbound.dns_servers, when set, gets a resolver of its own.
  const onLookup = (type: string, result: string): void => metrics.dnsLookups.inc({ type, result });
  // Folder fsyncs (grouped across sessions), timed for facteur_fsync_duration_seconds.
  const timedFsync = (what: string): GroupFsync =>
    new GroupFsync(async (dir) => {
      const started = performance.now();
      await fsyncDirectory(dir);
      metrics.fsyncSeconds.observe({ what }, (performance.now() - started) / 1000);
    });
  const dns = new DnsResolver({ servers: config.dnsServers, onLookup });
  const relayDns = sameList(config.outbound.dnsServers, config.dnsServers) ? dns : new DnsResolver({ servers: config.outbound.dnsServers, onLookup });
  // Relayed and submitted mail, and our bounces, are signed when their domain has a key (dkim.domains); the
  // signatures are made in a thread of their own (threaded-signing.ts says why), started on the first one.
  const signing = config.dkim.domains.length === 0 ? null : new ThreadedSigning({ logger });
  const signer = signing === null ? null : new DkimSigner({ keys: deps.dkimKeys ?? (await DkimKeys.load(config.dkim.keyDir, config.dkim.domains)), sign: signing.sign });
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

  const servers: { name: ServerName; server: SmtpServer }[] = [];
  const inherited = deps.inherited ?? [];
  const adopt = (host: string, port: number) => takeInherited(inherited, host, port);
  const cleanups: (() => Promise<void>)[] = [];
  if (signing !== null) cleanups.push(() => signing.close()); // the last to go: what is still signing then goes to the pool
  // The settings a reload may change: each server's context reads its limits and timeouts from the current config.
  let current = config;
  const contexts = new ServerContexts(config, { tls, logger, now, metrics });
  const context = (name: string, delivery: Delivery, side: (c: Config) => SideLimits, extras: ContextExtras = {}): ServerContext =>
    contexts.make(name, delivery, side, extras);

  let local: MaildirDelivery | null = null;
  let sharedLimits: ClientLimiter | null = null;
  let clientLimits: ClientLimits | null = null;
  let greylist: Greylist | null = null;
  let relay: Relay | null = null;
  /** The relay server's final step: the relay's own, or in a worker a writer of queue files for the primary's queue. */
  let relayDelivery: Delivery | null = null;
  let metricsAddress: string | null = null;
  let submission: SubmissionService | null = null;
  let router: Router | null = null;
  let routing: InboundRouting | null = null;
  try {
    if (config.inbound.enabled) {
      const mailboxes = await Mailboxes.load(config.inbound);
      // Maildirs written here or LMTP (inbound.delivery), quotas, the Maildirs' group: src/inbound/store-setup.ts.
      const store = await setUpStore(config, { pid, logger });
      cleanups.push(store.close);
      const maildirs = new MaildirDelivery({ root: config.inbound.maildirRoot, hostname: config.hostname, pid, now, logger, mailboxes, dirSync: timedFsync('maildir'), ...store.options });
      local = maildirs;
      cleanups.push(() => maildirs.close());
      const counted = new ClientLimits(clientLimitSettings(config));
      if (worker === null) clientLimits = counted;
      const limits = worker === null ? counted : worker.clientLimits(clientLimitSettings(config));
      sharedLimits = limits;
      const inboundLogger = logger.child({ server: 'inbound' });
      const exempt = config.inbound.limitsExempt;
      const clientScreen =
        config.inbound.dnsbl.length === 0
          ? undefined
          : new Dnsbl({ lists: config.inbound.dnsbl, timeoutMs: config.inbound.dnsblTimeout, resolve4: resolve4Via(dns), exempt, logger: inboundLogger });
      let recipientPolicy: RecipientPolicy | undefined;
      if (config.inbound.greylist.enabled && worker !== null) recipientPolicy = worker.greylist;
      else if (config.inbound.greylist.enabled) {
        const opened = Greylist.open({ rules: config.inbound.greylist, exempt, dataDir: config.dataDir, logger: inboundLogger, now: () => now().getTime() });
        recipientPolicy = opened;
        greylist = opened;
        cleanups.push(() => opened.close());
      }
      // The end-of-DATA checks: mail authentication, then the spam filter; the strongest verdict wins.
      const checks: MessageCheck[] = [];
      if (config.inbound.verify) {
        // In a thread of their own (threaded-checks.ts says why), with a resolver built from the same settings.
        const threaded = new ThreadedChecks({ dns: { servers: config.dnsServers }, hostname: config.hostname, dmarcPolicy: config.inbound.dmarcPolicy }, { onLookup, logger: inboundLogger });
        cleanups.push(() => threaded.close());
        checks.push(new MailauthCheck(threaded, inboundLogger));
      }
      if (config.inbound.rspamd !== null) {
        const { url, timeout, fail, spamToJunk } = config.inbound.rspamd;
        const rspamd = new RspamdCheck({ url, timeoutMs: timeout, fail, spamToJunk, hostname: config.hostname, logger: inboundLogger });
        checks.push(rspamd);
        cleanups.push(async () => rspamd.close());
      }
      // Authentication-Results fields claiming our name are removed whether or not we check (RFC 8601 §5): a reader
      // that trusts our name must never see a verdict we did not write.
      const checking = { checks, authservId: config.hostname };
      // Addresses (README): subaddresses, catch-alls, aliases; forwards go into the relay's queue once it is open
      // (just below: a forward in the moment before gets 451 4.3.0).
      const srs = await loadSrs(config, () => now().getTime());
      const onSrsRefused = (address: string, err: Error & { reason: string }): void =>
        inboundLogger.info({ event: 'srs-refused', rcpt: address, reason: err.reason }, `SRS address refused: ${err.message}`);
      router = new Router(routerDeps(maildirs, config.inbound.maildirRoot, srs, onSrsRefused), await routerSettings(config.inbound, config.outbound.enabled));
      await logAliasProblems(router, inboundLogger);
      // The relay's Delivery: the queue in one process or the primary, the queue files a worker writes in a worker.
      routing = new InboundRouting({ router, maildirs, forwarder: () => relayDelivery, srs, logger: inboundLogger });
      const defences = { clientLimits: limits, ...(clientScreen === undefined ? {} : { clientScreen }), ...(recipientPolicy === undefined ? {} : { recipientPolicy }) };
      // LMTP recipients refused after the data go to the relay's queue (opened below), when there is one.
      const requeue: Requeue | undefined =
        config.inbound.store.delivery === 'lmtp' && config.outbound.enabled
          ? (from, to, body) => {
              if (relayDelivery === null) throw new Error('the relay is not open');
              return requeueThrough(relayDelivery)(from, to, body);
            }
          : undefined;
      const inbound = new InboundDelivery(maildirs, logger, { checking, routing, ...(requeue === undefined ? {} : { requeue }) });
      const server = new SmtpServer(context('inbound', inbound, (c) => c.inbound, defences), { adopt, ...serverPart });
      servers.push({ name: 'inbound', server });
      await server.listen(config.inbound.listen, false);
      await server.listen(config.inbound.listenTls, true);
    }
    if (config.outbound.enabled && worker !== null) {
      // A worker writes queue files (durable before the 250, as in one process) and the primary's queue sends them.
      const store = await QueueStore.writer({ dir: config.outbound.queueDir, logger, now: Date.now, groupFsync: timedFsync('queue') });
      relayDelivery = new OutboundDelivery({ store, enqueue: worker.enqueue, logger: logger.child({ component: 'queue' }), now: Date.now, signer });
      const server = new SmtpServer(context('outbound', relayDelivery, (c) => ({ ...c.outbound, greetPause: 0 })), { acceptPeer: isLoopbackIp, adopt, ...serverPart });
      servers.push({ name: 'outbound', server });
      await server.listen(config.outbound.listen, false);
    } else if (config.outbound.enabled) {
      const resolver = new MxResolver({ servers: config.outbound.dnsServers, dns: relayDns, addressPreference: config.outbound.addressPreference });
      // Sessions kept open between messages to the same server; closed after the queue (cleanups run in reverse).
      const cache = new ConnectionCache({ logger });
      cleanups.push(() => cache.close());
      // Each MX host's TLS policy (DANE, MTA-STS, outbound.tls): through the relay's resolver, policies cached under
      // data_dir. Policy fetches still running once the queue has stopped waiting are cut short (see below).
      const stopFetches = new AbortController();
      const tlsPolicy = await createOutboundTls({
        config: config.outbound,
        dataDir: config.dataDir,
        dns: relayDns,
        logger,
        signal: stopFetches.signal,
        ...(deps.mtaStsPort !== undefined ? { httpsPort: deps.mtaStsPort } : {}),
      });
      cleanups.push(async () => stopFetches.abort());
      const remote = new SmtpCourier({
        hostname: config.hostname,
        port: config.outbound.smtpPort,
        tlsPolicy,
        resolver,
        timeouts: clientTimeouts(config),
        logger,
        cache,
        source: { ipv4: config.outbound.sourceIpv4, ipv6: config.outbound.sourceIpv6 },
      });
      const maildirs = local;
      const courier = new RoutingCourier({
        remote,
        // With the router (README, Addresses), our domains' recipients expand as inbound mail does.
        local: maildirs === null ? null : routing !== null ? new RoutedLocalCourier(routing, maildirs, config.hostname) : new LocalCourier(maildirs, config.hostname),
        isLocal: (domain) => maildirs !== null && maildirs.isLocalDomain(domain),
      });
      const r = await Relay.open({ config: config.outbound, hostname: config.hostname, dataDir: config.dataDir, courier, logger, signer, groupFsync: timedFsync('queue'), countAttempt: (outcome) => metrics.deliveryAttempts.inc({ outcome }) });
      relay = r;
      relayDelivery = r.delivery;
      cleanups.push(() => r.close());
      metrics.watchQueue(queueGauges(r));
      // The relay takes mail from local programs only, whatever the config says (it cannot say otherwise).
      // Local programs are not screened: no pause before the greeting.
      const server = new SmtpServer(context('outbound', r.delivery, (c) => ({ ...c.outbound, greetPause: 0 })), { acceptPeer: isLoopbackIp, adopt, ...serverPart });
      servers.push({ name: 'outbound', server });
      await server.listen(config.outbound.listen, false);
      await r.start();
    }
    if (config.submission.enabled) {
      // The config refuses submission without the relay: an authenticated session's mail goes into its queue.
      if (relayDelivery === null) throw new Error('submission needs the outbound relay (outbound.enabled = true)');
      const started = await SubmissionService.start({
        config: config.submission,
        relay: relayDelivery,
        mailboxes: await Mailboxes.load(config.inbound),
        // The relay's limits, but for the number of connections: the submission port is open to the network.
        context: (delivery, auth) => context('submission', delivery, (c) => ({ ...c.outbound, maxConnections: c.submission.maxConnections, greetPause: 0 }), { auth }),
        hostname: config.hostname,
        logger: logger.child({ server: 'submission' }),
        now,
        serverOptions: { adopt, ...serverPart },
      });
      submission = started;
      servers.push({ name: 'submission', server: started.server });
    }
    // One endpoint for the whole server: a worker's metrics are served by the primary's.
    if (config.metrics.listen !== null && worker === null) {
      const endpoint = await startMetricsServer(config.metrics.listen, metrics, logger).catch((err: NodeJS.ErrnoException) => {
        throw toBindError(`${config.metrics.listen!.text} (metrics)`, err);
      });
      metricsAddress = endpoint.address;
      cleanups.push(() => endpoint.close());
    }
  } catch (err) {
    await Promise.allSettled(servers.map((s) => s.server.close()));
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw err;
  }

  // A socket systemd passed for an address the config does not list would accept connections nobody serves.
  for (const s of inherited.splice(0)) {
    logger.warn({ event: 'inherited-socket-unused', address: `${s.host}:${s.port}` }, 'systemd passed a listening socket for an address the config does not list: closed');
    s.server.close();
  }
  const listeners = servers.flatMap(({ name, server }) => server.addresses().map((a) => ({ ...a, server: name })));
  // Every line already carries the process's pid (the logger's base); the one in Maildir names is said only if it differs.
  // With workers, "started" is the primary's, once every worker is ready (src/cli/start.ts).
  logger.info({ event: part === undefined ? 'started' : `${part.role}-started`, hostname: config.hostname, ...(pid === process.pid ? {} : { maildir_pid: pid }), listeners: listeners.map((l) => `${l.server} ${l.text}${l.implicitTls ? ' tls' : ''}`), metrics: metricsAddress }, 'facteur started');

  return {
    listeners: () => listeners,
    metricsAddress: () => metricsAddress,
    flushQueue: () => relay?.queue.flush(),
    shared: () => ({ clientLimits, greylist, relay, metrics }),
    async stopAccepting() {
      await Promise.allSettled(servers.map((s) => s.server.close()));
    },
    async stop() {
      await Promise.allSettled(servers.map((s) => s.server.close()));
      for (const c of cleanups.reverse()) await c().catch((err) => logger.error({ err }, 'shutdown step failed'));
      logger.info({ event: 'stopped' }, 'facteur stopped');
    },
    async reload(next = current) {
      // What can fail is read first: a bad users file leaves every setting as it was.
      const mailboxes = local === null && submission === null ? null : await Mailboxes.load(next.inbound);
      const routes = router === null ? null : await routerSettings(next.inbound, next.outbound.enabled);
      const keys = signer === null ? null : await DkimKeys.load(next.dkim.keyDir, next.dkim.domains).catch((err: unknown) => {
        // A key that went missing keeps the old set: mail must not start leaving unsigned because of a bad edit.
        logger.error({ event: 'dkim-reload-failed', err }, `DKIM keys not reloaded, keeping the previous ones: ${errorText(err)}`);
        return null;
      });
      const restart = restartNeeded(current, next);
      current = next;
      setLogLevel(logger, next.log.level);
      await tls.reload({ cert: next.tls.cert, key: next.tls.key, ciphers: next.tls.ciphers, minVersion: next.tls.minVersion });
      contexts.reload(next);
      sharedLimits?.update(clientLimitSettings(next));
      if (keys !== null) signer?.setKeys(keys);
      if (routes !== null && router !== null) {
        router.update(routes);
        await logAliasProblems(router, logger);
      }
      if (mailboxes !== null) {
        local?.setMailboxes(mailboxes);
        await submission?.reload(mailboxes);
      }
      logger.info({ event: 'reloaded', restart_needed: restart }, 'configuration reloaded');
      if (restart.length > 0) logger.warn({ event: 'restart-needed', keys: restart }, `changed settings that need a restart to apply: ${restart.join(', ')}`);
    },
  };
}

/** The blocklists' A lookups through the program's resolver, in the shape of Resolver#resolve4 with TTLs. */
function resolve4Via(dns: DnsResolver): Resolve4 {
  return async (name) => {
    const answer = await dns.a(name);
    return answer.records.map((address) => ({ address, ttl: answer.ttl }));
  };
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function clientLimitSettings(c: Config) {
  return {
    maxConnections: c.inbound.maxConnectionsPerClient,
    maxConnectionRate: c.inbound.maxConnectionRate,
    maxMessageRate: c.inbound.maxMessageRate,
    maxRecipientRate: c.inbound.maxRecipientRate,
    exempt: c.inbound.limitsExempt,
  };
}

/** The queue's size for the gauges, read when scraped: a message is pending while any recipient is. */
function queueGauges(r: Relay): QueueGaugeSource {
  return {
    countByState() {
      const counts = { pending: 0, deferred: 0 };
      for (const e of r.queue.list()) counts[e.recipients.some((x) => x.status === 'pending') ? 'pending' : 'deferred'] += 1;
      return counts;
    },
    oldestArrival() {
      let oldest: number | null = null;
      for (const e of r.queue.list()) oldest = Math.min(oldest ?? Infinity, Date.parse(e.created));
      return oldest;
    },
  };
}

/** The client's RFC 5321 §4.5.3.2 timeouts (smtp-client.ts), with connect, greeting and commands from the config. */
function clientTimeouts(config: Config): ClientTimeouts {
  return { ...defaultClientTimeouts, connect: config.timeouts.connect, greeting: config.timeouts.connect, command: config.timeouts.command };
}
