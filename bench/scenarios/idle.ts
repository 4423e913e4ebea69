// Idle connections: K sessions greeted and past EHLO, held open; the server's memory, and how fast a new session is served.
import { connect, type Socket } from 'node:net';
import type { BenchContext } from '../context.js';
import { BENCH_DOMAIN, BENCH_MAILBOX, type FacteurProcess } from '../facteur-process.js';
import { percentile, runLoad } from '../load-generator.js';
import { buildMessage } from '../message.js';
import { openFilesLimit, treeRssBytes } from '../proc-stats.js';
import { ReplyScanner } from '../reply-scanner.js';
import { round, type ScenarioResult } from '../result.js';
import { mb, ServerMeter } from '../server-meter.js';
import { failedResult, type Scenario } from './scenario.js';

/** Connection attempts in flight while opening: below the listen backlog, so none waits for a SYN retry. */
const OPENING = 200;

export function idleScenario(id: string, connections: number, quickConnections: number): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'idle',
    postfix: false,
    async run(ctx, target) {
      const count = ctx.options.quick ? quickConnections : connections;
      const probes = ctx.options.quick ? 3 : 50;
      const { soft } = openFilesLimit();
      if (soft < count + 256) return failedResult(scenario, target, `this process may open ${soft} files, ${count + 256} needed: raise ulimit -n`);
      const server = await ctx.startFacteur(id);
      return ctx.measureOn(server, () => measureIdle(ctx, id, server, count, probes));
    },
  };
  return scenario;
}

async function measureIdle(ctx: BenchContext, id: string, server: FacteurProcess, count: number, probes: number): Promise<Omit<ScenarioResult, 'profile'>> {
  const port = server.setup.inboundPort;
  const held: Socket[] = [];
  try {
    const problems: string[] = [];
    const message = buildMessage(4096, `a@${BENCH_DOMAIN}`, `${BENCH_MAILBOX}@${BENCH_DOMAIN}`);
    const probe = (n: number) =>
      runLoad({ host: '127.0.0.1', port, sessions: 1, messages: n, perConnection: 1, pipelining: ctx.options.pipelining, message, from: `a@${BENCH_DOMAIN}`, recipients: [`${BENCH_MAILBOX}@${BENCH_DOMAIN}`], heloName: 'probe.bench.test', idleTimeoutMs: 60_000 });
    await probe(Math.min(probes, 20)); // warm-up: the same path as the probes below
    const rssBefore = treeRssBytes(server.pid);
    const meter = new ServerMeter(server.pid, true);

    ctx.progress(`  facteur: opening ${count} idle sessions`);
    const t0 = performance.now();
    let refused = 0;
    const causes: Record<string, number> = {};
    let next = 0;
    const opener = async () => {
      while (next < count) {
        next++;
        try {
          held.push(await openIdle(port));
        } catch (err) {
          refused++;
          const cause = (err as Error).message;
          causes[cause] = (causes[cause] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPENING, count) }, opener));
    const openSeconds = (performance.now() - t0) / 1000;
    const rssHeld = treeRssBytes(server.pid);

    ctx.progress(`  facteur: ${held.length} held; ${probes} new sessions, one after another`);
    const p = await probe(probes);
    const dropped = held.filter((s) => s.destroyed || s.readyState !== 'open').length;
    const usage = await meter.stop();
    if (refused > 0) problems.push(`${refused} of ${count} idle sessions could not be opened: ${JSON.stringify(causes)}`);
    if (dropped > 0) problems.push(`${dropped} idle sessions were closed by the server while held`);
    if (p.failed > 0) problems.push(`${p.failed} of ${probes} probe sessions failed: ${JSON.stringify(p.errors)}`);
    const nullable = (x: number) => (Number.isNaN(x) ? null : round(x));
    return {
      id,
      kind: 'idle',
      target: 'facteur',
      ok: problems.length === 0,
      problems,
      method:
        `${count} connections opened (${OPENING} at a time), each greeted and past EHLO, then held; while they are held, ` +
        `${probes} new sessions one after another each send one 4 KiB message (connect → 250 after DATA timed); ` +
        `RSS = VmRSS of the server process (/proc/<pid>/status) before opening and while held; peak = VmHWM reset at the start`,
      params: { connections: count, probes },
      figures: {
        held: held.length - dropped,
        refused,
        dropped,
        openSeconds: round(openSeconds),
        rssBeforeMb: mb(rssBefore),
        rssHeldMb: mb(rssHeld),
        peakRssMb: mb(usage.rssPeak),
        rssPerConnectionKb: held.length > 0 ? round((rssHeld - rssBefore) / 1024 / held.length) : null,
        newSessionP50Ms: nullable(percentile(p.sessionLatenciesMs, 0.5)),
        newSessionP99Ms: nullable(percentile(p.sessionLatenciesMs, 0.99)),
        latencyP50Ms: nullable(percentile(p.dataLatenciesMs, 0.5)),
        latencyP99Ms: nullable(percentile(p.dataLatenciesMs, 0.99)),
        serverCpuMs: round(usage.cpuMs),
      },
      errors: { ...causes, ...p.errors },
    };
  } finally {
    for (const s of held) s.destroy(); // before the stop: held sessions would hold up the graceful shutdown
  }
}

/** One session: connect, 220, EHLO, 250; resolves with the socket left open (and quiet). */
function openIdle(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let step = 0;
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail('timeout'), 30_000);
    const scanner = new ReplyScanner((code, last) => {
      if (!last) return;
      if (step === 0 && code === 220) {
        step = 1;
        socket.write('EHLO idle.bench.test\r\n');
      } else if (step === 1 && code === 250) {
        step = 2;
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.on('data', () => undefined);
        resolve(socket);
      } else fail(String(code));
    });
    socket.on('data', (c: Buffer) => scanner.feed(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (step < 2) fail(err.code ?? 'error');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (step < 2) fail('closed');
    });
  });
}
