// Outbound: messages submitted on the loopback relay, queued, and delivered through a loopback DNS to a sink at 127.0.0.2.
import { readdir } from 'node:fs/promises';
import type { BenchContext } from '../context.js';
import { DnsStub } from '../dns-stub.js';
import type { FacteurProcess } from '../facteur-process.js';
import { cellLoad } from '../load-generator.js';
import { flushDisk } from '../maildir.js';
import { buildMessage } from '../message.js';
import type { TargetName } from '../options.js';
import { ensurePostfixRelay, POSTFIX, postfixMasterPid, postfixProblem } from '../postfix.js';
import type { ProfileSummary } from '../profile-summary.js';
import type { ScenarioResult } from '../result.js';
import { ServerMeter } from '../server-meter.js';
import { SinkProcess } from '../sink-process.js';
import { clientCpu, deliveryFigures, MEASURE_NOTE } from './load-figures.js';
import { failedResult, type Scenario } from './scenario.js';

export interface OutboundCell {
  readonly size: number;
  readonly sessions: number;
  readonly perConnection: 'one' | 'many';
  readonly messages: number;
  readonly quickMessages: number;
}

const FROM = 'sender@bench.test';
const TO = `r@${POSTFIX.relayDomain}`;
const MX_NAME = `mx.${POSTFIX.relayDomain}`;

interface Relay {
  readonly port: number;
  readonly pid: number;
  readonly singleProcess: boolean;
  readonly queueDir: string | null;
  close(): Promise<ProfileSummary | null>;
}

export function outboundScenario(id: string, cell: OutboundCell): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'outbound',
    postfix: true,
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
        relay = await openRelay(ctx, id, target, sink.port, dns.address);
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

async function openRelay(ctx: BenchContext, id: string, target: TargetName, sinkPort: number, dns: string): Promise<Relay> {
  if (target === 'postfix') {
    const pid = postfixMasterPid();
    if (pid === null) throw new Error('Postfix is not running');
    return { port: POSTFIX.port, pid, singleProcess: false, queueDir: null, close: async () => null };
  }
  const f: FacteurProcess = await ctx.startFacteur(id, { inbound: false, outbound: true, smtpPort: sinkPort, dnsServers: [dns] });
  return {
    port: f.setup.outboundPort,
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
  const message = buildMessage(cell.size, FROM, TO);
  const deadline = ctx.deadline();
  const submit = cellLoad({ port: relay.port, perConnection: cell.perConnection, pipelining: options.pipelining, message, from: FROM, to: TO });
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
      `${messages} messages of ${message.size} octets submitted on the loopback relay over ${cell.sessions} parallel sessions ` +
      `(${cell.perConnection === 'one' ? 'a connection per message' : 'one connection per session'}), each for one recipient at ` +
      `${POSTFIX.relayDomain}, whose MX ${target === 'postfix' ? '(a transport map for Postfix, no DNS)' : 'comes from a DNS server on loopback'} ` +
      `is an SMTP sink on ${POSTFIX.sinkHost} in another process; after ${warmup} unmeasured warm-up messages; ` +
      `wall time = first connection → the sink accepted the last message (end to end); latency is that of the submission; ${MEASURE_NOTE}`,
    params: { messages, sessions: cell.sessions, messageSize: message.size, perConnection: cell.perConnection, pipelining: options.pipelining, warmup },
    figures: { messages, delivered, ...deliveryFigures(result, message.size, wallSeconds, usage), clientCpuMsPerMsg: clientCpu(client, result.accepted), remoteConnections, queueLeft },
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
