// The rspamd check alone: 4 KiB messages through src/rspamd's check at S runs at once, against Debian's rspamd
// started in a temporary folder (the tests' launcher): how many messages a second the filter lets the inbound
// server take at most, and the CPU it costs (rspamd's, and the check's own in facteur).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Envelope, SessionInfo } from '../../src/delivery.js';
import { RspamdCheck } from '../../src/rspamd/rspamd-check.js';
import { startRspamd } from '../../test/helpers/rspamd.js';
import { DnsProcess } from '../dns-process.js';
import { percentile } from '../load-generator.js';
import { buildMessage } from '../message.js';
import { round, type ScenarioResult } from '../result.js';
import { ServerMeter } from '../server-meter.js';
import { clientCpu } from './load-figures.js';
import type { Scenario } from './scenario.js';

export interface FilterCell {
  readonly size: number;
  readonly sessions: number;
  readonly messages: number;
  readonly quickMessages: number;
}

const envelope: Envelope = {
  reversePath: { local: 'a', domain: 'bench.test' },
  recipients: [{ local: 'u', domain: 'bench.test' }],
  eightBit: false,
  smtputf8: false,
  declaredSize: null,
};
const session: SessionInfo = {
  id: 'bench',
  remoteAddress: '192.0.2.1',
  remotePort: 40000,
  localAddress: '127.0.0.1',
  localPort: 25,
  heloName: 'client.bench.test',
  esmtp: true,
  tls: null,
};

export function rspamdScenario(id: string, cell: FilterCell): Scenario {
  return {
    id,
    kind: 'filter',
    postfix: false,
    async run(ctx, target): Promise<ScenarioResult> {
      const base = { id, kind: 'filter' as const, target, profile: null, errors: {} };
      // rspamd's DNS server in a process of its own: answering ~20 questions per message costs CPU that is not the check's.
      const dns = await DnsProcess.start();
      const rspamd = await startRspamd(dns.address).catch(async (err: unknown) => {
        await dns.close();
        throw err;
      });
      if (typeof rspamd === 'string') {
        await dns.close();
        return { ...base, ok: true, problems: [], method: `skipped: ${rspamd}`, params: { skipped: rspamd }, figures: {} };
      }
      let failures = 0;
      const counter = new Writable({
        write(chunk: Buffer, _e, done) {
          failures += chunk.toString('utf8').split('\n').filter((l) => l.includes('"rspamd-failed"')).length;
          done();
        },
      });
      const check = new RspamdCheck({ url: rspamd.url, timeoutMs: 30_000, fail: 'accept', spamToJunk: true, hostname: 'mx.bench.test', logger: pino({ level: 'warn' }, counter) });
      try {
        const messages = ctx.options.messages ?? (ctx.options.quick ? cell.quickMessages : cell.messages);
        const warmup = ctx.options.warmup ?? (ctx.options.quick ? 0 : Math.min(200, Math.ceil(messages / 10)));
        const wire = buildMessage(cell.size, 'a@bench.test', 'u@bench.test');
        // The check gets the message as stored: LF line endings, no final dot.
        const text = Buffer.from(wire.whole!.subarray(0, wire.whole!.length - 3).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
        await drive(check, text, warmup, cell.sessions);
        ctx.progress(`  rspamd: ${messages} × ${text.length} octets, ${cell.sessions} checks at once`);
        const meter = new ServerMeter(rspamd.pid, false);
        const client0 = process.cpuUsage();
        const t0 = performance.now();
        const { latencies, actions } = await drive(check, text, messages, cell.sessions);
        const seconds = (performance.now() - t0) / 1000;
        const client = process.cpuUsage(client0);
        const usage = await meter.stop();
        const problems = failures > 0 ? [`${failures} checks failed (see rspamd-failed)`] : [];
        return {
          ...base,
          ok: problems.length === 0,
          problems,
          method:
            `${messages} messages of ${text.length} octets through RspamdCheck (POST /checkv2, one chunk each, keep-alive) with ${cell.sessions} checks at once, ` +
            `after ${warmup} unmeasured; rspamd 1 normal worker (the packaged rules, no Redis, its DNS questions answered NXDOMAIN by a loopback server in another process); ` +
            `rspamd CPU = utime+stime of its process tree from /proc; check CPU = this process's CPU per message; actions: ${JSON.stringify(actions)}`,
          params: { messages, sessions: cell.sessions, messageSize: text.length, warmup },
          figures: {
            accepted: messages,
            wallSeconds: round(seconds),
            msgsPerSec: round(messages / seconds),
            latencyP50Ms: round(percentile(latencies, 0.5)),
            latencyP99Ms: round(percentile(latencies, 0.99)),
            serverCpuMsPerMsg: round(usage.cpuMs / messages),
            clientCpuMsPerMsg: clientCpu(client, messages),
          },
        };
      } finally {
        check.close();
        await rspamd.stop();
        await dns.close();
      }
    },
  };
}

/** `n` checks of `text`, `sessions` at a time; each one's time from its start to its verdict, and the actions seen. */
async function drive(check: RspamdCheck, text: Buffer, n: number, sessions: number): Promise<{ latencies: Float64Array; actions: Record<string, number> }> {
  const latencies = new Float64Array(n);
  const actions: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      const run = check.start(envelope, session);
      await run.write(text);
      const verdict = await run.finish();
      latencies[i] = performance.now() - t;
      actions[verdict.action] = (actions[verdict.action] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(sessions, Math.max(n, 1)) }, worker));
  return { latencies, actions };
}
