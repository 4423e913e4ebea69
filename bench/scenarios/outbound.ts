// Outbound: messages submitted on the loopback relay (or on submission, with a login over TLS), queued, and delivered
// through a loopback DNS to a sink at 127.0.0.2.
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_PARAMS, hashPassword, parseHash, verifyPassword } from '../../src/submission/password-hash.js';
import type { BenchContext } from '../context.js';
import { DnsStub } from '../dns-stub.js';
import { BENCH_DOMAIN, BENCH_MAILBOX, freePort, type FacteurProcess } from '../facteur-process.js';
import { cellLoad } from '../load-generator.js';
import { flushDisk } from '../maildir.js';
import { buildMessage } from '../message.js';
import type { TargetName } from '../options.js';
import { ensurePostfixRelay, POSTFIX, postfixMasterPid, postfixProblem } from '../postfix.js';
import type { ProfileSummary } from '../profile-summary.js';
import { round, type ScenarioResult } from '../result.js';
import { ServerMeter } from '../server-meter.js';
import { SinkProcess } from '../sink-process.js';
import { clientCpu, deliveryFigures, MEASURE_NOTE } from './load-figures.js';
import { failedResult, type Scenario } from './scenario.js';

export interface OutboundCell {
  /** Where the messages are submitted: the loopback relay (default), or submission with a login over implicit TLS. */
  readonly via?: 'relay' | 'submission';
  readonly size: number;
  readonly sessions: number;
  readonly perConnection: 'one' | 'many';
  readonly messages: number;
  readonly quickMessages: number;
}

const FROM = 'sender@bench.test';
/** The submission login: an address of the bench's mailbox, with a password hashed at the default cost. */
const USER = `${BENCH_MAILBOX}@${BENCH_DOMAIN}`;
const PASSWORD = 'bench: a password of some length';
const TO = `r@${POSTFIX.relayDomain}`;
const MX_NAME = `mx.${POSTFIX.relayDomain}`;

interface Relay {
  readonly port: number;
  /** The port takes implicit TLS and a login (submission). */
  readonly submission: boolean;
  readonly pid: number;
  readonly singleProcess: boolean;
  readonly queueDir: string | null;
  close(): Promise<ProfileSummary | null>;
}

export function outboundScenario(id: string, cell: OutboundCell): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'outbound',
    postfix: cell.via !== 'submission',
    async run(ctx, target) {
      if (target === 'postfix') {
        const problem = postfixProblem() ?? ensurePostfixRelay();
        if (problem !== null) return failedResult(scenario, target, problem);
      }
      const sink = await SinkProcess.start(POSTFIX.sinkHost, target === 'postfix' ? POSTFIX.sinkPort : 0);
      const dns = await DnsStub.start({
        [POSTFIX.relayDomain]: { mx: [{ preference: 10, exchange: MX_NAME }] },
        [MX_NAME]: { a: [POSTFIX.sinkHost] },
      });
      let relay: Relay | null = null;
      try {
        relay = await openRelay(ctx, id, target, sink.port, dns.address, cell.via === 'submission');
        const result = await measure(ctx, id, cell, target, relay, sink);
        const r = relay;
        relay = null;
        return { ...result, profile: await r.close() };
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      } finally {
        await relay?.close();
        await sink.close();
        await dns.close();
      }
    },
  };
  return scenario;
}

async function openRelay(ctx: BenchContext, id: string, target: TargetName, sinkPort: number, dns: string, viaSubmission: boolean): Promise<Relay> {
  if (target === 'postfix') {
    const pid = postfixMasterPid();
    if (pid === null) throw new Error('Postfix is not running');
    return { port: POSTFIX.port, pid, singleProcess: false, queueDir: null, submission: false, close: async () => null };
  }
  let submission: { port: number; passwordsFile: string } | null = null;
  if (viaSubmission) {
    submission = { port: await freePort(), passwordsFile: join(ctx.workDir, `${id}.passwords`) };
    await writeFile(submission.passwordsFile, `${USER}:${await hashPassword(PASSWORD)}\n`, { mode: 0o600 });
  }
  const f: FacteurProcess = await ctx.startFacteur(id, { inbound: false, outbound: true, smtpPort: sinkPort, dnsServers: [dns], submission });
  return {
    port: submission?.port ?? f.setup.outboundPort,
    submission: submission !== null,
    pid: f.pid,
    singleProcess: true,
    queueDir: f.queueDir,
    close: async () => {
      const profile = await ctx.stopFacteur(f);
      await ctx.discard(f);
      return profile;
    },
  };
}

async function measure(ctx: BenchContext, id: string, cell: OutboundCell, target: TargetName, relay: Relay, sink: SinkProcess): Promise<Omit<ScenarioResult, 'profile'>> {
  const { options } = ctx;
  const messages = options.messages ?? (options.quick ? cell.quickMessages : cell.messages);
  // A fresh server per measure: a longer warm-up than inbound's, which runs on a server kept warm across measures.
  const warmup = options.warmup ?? (options.quick ? 0 : Math.min(500, messages));
  const from = relay.submission ? USER : FROM;
  const message = buildMessage(cell.size, from, TO);
  const deadline = ctx.deadline();
  const login = relay.submission ? { tls: true, tlsResume: options.tlsResume, auth: { user: USER, password: PASSWORD } } : {};
  const submit = cellLoad({ port: relay.port, perConnection: cell.perConnection, pipelining: options.pipelining, message, from, to: TO, ...login });
  const untilDeadline = () => Math.max(1, deadline - Date.now());
  const before = (await sink.counts()).messages;
  if (warmup > 0) {
    const w = await submit(warmup, Math.min(cell.sessions, 8));
    await sink.waitFor(before + w.accepted, untilDeadline());
  }
  const baseCounts = await sink.counts();
  const base = baseCounts.messages;
  flushDisk();

  ctx.progress(`  ${target}: ${messages} × ${cell.size} octets relayed, ${cell.sessions} sessions, ${cell.perConnection} per connection`);
  const meter = new ServerMeter(relay.pid, relay.singleProcess);
  const wallStart = Date.now();
  const client0 = process.cpuUsage();
  const result = await submit(messages, cell.sessions);
  const client = process.cpuUsage(client0);
  const problems: string[] = [];
  let delivered = 0;
  let remoteConnections: number | null = null;
  let lastAt = wallStart + (result.endMs - result.startMs);
  try {
    const counts = await sink.waitFor(base + result.accepted, untilDeadline());
    delivered = counts.messages - base;
    remoteConnections = counts.connections - baseCounts.connections;
    lastAt = Math.max(lastAt, counts.lastAt);
  } catch (err) {
    delivered = (await sink.counts()).messages - base;
    problems.push(`only ${delivered} of ${result.accepted} accepted messages reached the sink: ${(err as Error).message}`);
  }
  const usage = await meter.stop();
  const wallSeconds = (lastAt - wallStart) / 1000;
  if (result.failed > 0) problems.push(`${result.failed} of ${messages} submissions refused or failed: ${JSON.stringify(result.errors)}`);
  const queueLeft = relay.queueDir === null ? null : await drainedQueue(relay.queueDir, Math.min(deadline, Date.now() + 10_000));
  if (queueLeft !== null && queueLeft > 0) problems.push(`${queueLeft} files still in the queue after every message reached the sink`);
  return {
    id,
    kind: 'outbound',
    target,
    ok: problems.length === 0,
    problems,
    method:
      `${messages} messages of ${message.size} octets submitted ${relay.submission ? `on the submission port (implicit TLS, ${options.tlsResume ? 'each connection resuming an earlier TLS session' : 'a full TLS handshake per connection'}, AUTH PLAIN with a password hashed at the default scrypt cost; facteur remembers a successful check, so only the first login of the run pays the hash)` : 'on the loopback relay'} over ${cell.sessions} parallel sessions ` +
      `(${cell.perConnection === 'one' ? 'a connection per message' : 'one connection per session'}), each for one recipient at ` +
      `${POSTFIX.relayDomain}, whose MX ${target === 'postfix' ? '(a transport map for Postfix, no DNS)' : 'comes from a DNS server on loopback'} ` +
      `is an SMTP sink on ${POSTFIX.sinkHost} in another process; after ${warmup} unmeasured warm-up messages; ` +
      `wall time = first connection → the sink accepted the last message (end to end); latency is that of the submission; ${MEASURE_NOTE}`,
    params: { messages, sessions: cell.sessions, messageSize: message.size, perConnection: cell.perConnection, pipelining: options.pipelining, warmup, ...(relay.submission ? { tlsResume: options.tlsResume } : {}) },
    figures: {
      messages,
      delivered,
      ...deliveryFigures(result, message.size, wallSeconds, usage),
      clientCpuMsPerMsg: clientCpu(client, result.accepted),
      remoteConnections,
      queueLeft,
      ...(relay.submission ? { hashCheckMs: await hashCheckMs() } : {}),
    },
    errors: result.errors,
  };
}

/** Files left in the queue folder once deliveries finish (items leave it just after the remote's 250). */
async function drainedQueue(dir: string, deadline: number): Promise<number> {
  for (;;) {
    const left = (await readdir(dir).catch(() => [])).length;
    if (left === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What one password check costs at the default scrypt parameters: the median of 5, in this process. */
async function hashCheckMs(): Promise<number> {
  const hash = parseHash(await hashPassword(PASSWORD, DEFAULT_PARAMS));
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await verifyPassword(PASSWORD, hash);
    times.push(performance.now() - t0);
  }
  return round(times.sort((a, b) => a - b)[2] as number);
}
