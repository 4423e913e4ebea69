// Inbound: N messages into the MX server's Maildir over S parallel sessions, until every one is a file in new/.
import type { BenchContext } from '../context.js';
import { BENCH_DOMAIN, BENCH_MAILBOX, type FacteurProcess } from '../facteur-process.js';
import { cellLoad, runLoad, type LoadResult } from '../load-generator.js';
import { countFiles, emptyNewDir, flushDisk, waitForFiles } from '../maildir.js';
import { buildMessage, type MessageBytes } from '../message.js';
import type { TargetName } from '../options.js';
import { POSTFIX, postfixMasterPid, postfixProblem } from '../postfix.js';
import type { ProfileSummary } from '../profile-summary.js';
import type { ScenarioResult } from '../result.js';
import { ServerMeter } from '../server-meter.js';
import { clientCpu, deliveryFigures, MEASURE_NOTE } from './load-figures.js';
import { failedResult, type Scenario } from './scenario.js';

export interface InboundCell {
  readonly size: number;
  readonly sessions: number;
  /** 'one': a connection per message; 'many': each session sends all its messages over one connection. */
  readonly perConnection: 'one' | 'many';
  readonly messages: number;
  readonly quickMessages: number;
}

/** The server under test, as the inbound measure sees it. */
export interface InboundServer {
  readonly port: number;
  readonly maildirNew: string;
  readonly pid: number;
  readonly singleProcess: boolean;
  /** facteur: stop (and read its profile); Postfix: keeps running, its Maildir emptied. */
  close(): Promise<ProfileSummary | null>;
}

export const FROM = `a@${BENCH_DOMAIN}`;
export const TO = `${BENCH_MAILBOX}@${BENCH_DOMAIN}`;

export function inboundScenario(id: string, cell: InboundCell): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'inbound',
    postfix: true,
    async run(ctx, target) {
      let server: InboundServer;
      try {
        server = await openServer(ctx, id, target);
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      }
      let closed = false;
      try {
        const result = await measure(ctx, id, cell, target, server);
        closed = true;
        return { ...result, profile: await server.close() };
      } finally {
        if (!closed) await server.close();
      }
    },
  };
  return scenario;
}

async function openServer(ctx: BenchContext, id: string, target: TargetName): Promise<InboundServer> {
  if (target === 'postfix') {
    const problem = postfixProblem();
    const pid = postfixMasterPid();
    if (problem !== null || pid === null) throw new Error(problem ?? 'Postfix is not running');
    await emptyNewDir(POSTFIX.maildirNew);
    return { port: POSTFIX.port, maildirNew: POSTFIX.maildirNew, pid, singleProcess: false, close: () => emptyNewDir(POSTFIX.maildirNew).then(() => null) };
  }
  const { server: f, release } = await ctx.facteurFor('inbound', (server) => warmServer(ctx, server));
  await emptyNewDir(f.maildirNew);
  return {
    port: f.setup.inboundPort,
    maildirNew: f.maildirNew,
    pid: f.pid,
    singleProcess: true,
    close: async () => {
      const profile = await release();
      if (f.running) await emptyNewDir(f.maildirNew);
      return profile;
    },
  };
}

/** Messages a new inbound server gets before its first measure: JIT and heap settle over the first thousands. */
export const SERVER_WARMUP = 1000;

export async function warmServer(ctx: BenchContext, server: FacteurProcess): Promise<void> {
  const n = ctx.options.quick || ctx.options.warmup === 0 ? 0 : SERVER_WARMUP;
  if (n === 0) return;
  ctx.progress(`  facteur: new server, warming up with ${n} messages`);
  const message = buildMessage(4096, FROM, TO);
  const base = { host: '127.0.0.1', port: server.setup.inboundPort, message, from: FROM, recipients: [TO], heloName: 'warmup.bench.test', idleTimeoutMs: 120_000 };
  await runLoad({ ...base, sessions: 8, messages: n / 2, perConnection: 1, pipelining: ctx.options.pipelining });
  await runLoad({ ...base, sessions: 8, messages: n / 2, perConnection: Number.POSITIVE_INFINITY, pipelining: ctx.options.pipelining });
}

/** What the measure sends: by default a message of the cell's size from a@bench.test to the bench's mailbox. */
export interface InboundMail {
  readonly message: MessageBytes;
  readonly from: string;
  /** Said in the method, e.g. "DKIM-signed by sender.example, checked (inbound.verify = true)". */
  readonly note?: string;
  /** How the server was started and warmed, for the method, when not the shared inbound server. */
  readonly server?: string;
}

export async function measure(
  ctx: BenchContext,
  id: string,
  cell: InboundCell,
  target: TargetName,
  server: InboundServer,
  mail: InboundMail = { message: buildMessage(cell.size, FROM, TO), from: FROM },
): Promise<Omit<ScenarioResult, 'profile'>> {
  const { options } = ctx;
  const messages = options.messages ?? (options.quick ? cell.quickMessages : cell.messages);
  const warmup = options.warmup ?? (options.quick ? 0 : Math.min(200, Math.ceil(messages / 10)));
  const { message } = mail;
  const load = cellLoad({ port: server.port, perConnection: cell.perConnection, pipelining: options.pipelining, message, from: mail.from, to: TO });
  const deadline = ctx.deadline();
  const problems: string[] = [];

  // Warm-up: the server's JIT, its processes (Postfix's smtpd), the disk's journal; then wait until it is stored.
  if (warmup > 0) {
    const w = await load(warmup, Math.min(cell.sessions, 8));
    await waitForFiles(server.maildirNew, w.accepted, deadline);
  }
  const base = await countFiles(server.maildirNew);
  flushDisk();

  ctx.progress(`  ${target}: ${messages} × ${cell.size} octets, ${cell.sessions} sessions, ${cell.perConnection} per connection`);
  const meter = new ServerMeter(server.pid, server.singleProcess);
  const wallStart = Date.now();
  const client0 = process.cpuUsage();
  const result: LoadResult = await load(messages, cell.sessions);
  const client = process.cpuUsage(client0);
  const arrival = await waitForFiles(server.maildirNew, base + result.accepted, deadline);
  const usage = await meter.stop();
  const acceptEnd = wallStart + (result.endMs - result.startMs);
  const wallSeconds = (Math.max(acceptEnd, arrival.lastAddedMs) - wallStart) / 1000;
  const durable = arrival.count - base;

  if (result.failed > 0) problems.push(`${result.failed} of ${messages} messages refused or failed: ${JSON.stringify(result.errors)}`);
  if (durable < result.accepted) problems.push(`only ${durable} of ${result.accepted} accepted messages reached ${server.maildirNew}`);
  return {
    id,
    kind: 'inbound',
    target,
    ok: problems.length === 0,
    problems,
    method:
      `${messages} messages of ${message.size} octets${mail.note === undefined ? '' : ` (${mail.note})`} to one local mailbox over ${cell.sessions} parallel sessions, ` +
      `${cell.perConnection === 'one' ? 'a new connection per message' : 'all of a session’s messages over one connection'}, ` +
      `${options.pipelining ? 'MAIL/RCPT/DATA pipelined when offered' : 'no pipelining'}, after ${warmup} unmeasured warm-up messages` +
      `${mail.server !== undefined ? ` ${mail.server}` : target === 'facteur' ? (options.cpuProfile ? ' on a fresh server (profiled)' : ` on a server kept running across the inbound scenarios (${SERVER_WARMUP} warm-up messages at its start)`) : ' on the running Postfix'}; ` +
      `wall time = first connection → the last file in new/ (the folder's mtime); ${MEASURE_NOTE}`,
    params: { messages, sessions: cell.sessions, messageSize: message.size, perConnection: cell.perConnection, pipelining: options.pipelining, warmup },
    figures: { messages, durable, ...deliveryFigures(result, message.size, wallSeconds, usage), clientCpuMsPerMsg: clientCpu(client, result.accepted) },
    errors: result.errors,
  };
}
