// One very large message (100 MB): the server must stream it to disk, so its memory should barely move.
import type { BenchContext } from '../context.js';
import { BENCH_DOMAIN, BENCH_MAILBOX } from '../facteur-process.js';
import { runLoad } from '../load-generator.js';
import { countFiles, flushDisk, waitForFiles } from '../maildir.js';
import { buildMessage } from '../message.js';
import { round } from '../result.js';
import { mb, ServerMeter } from '../server-meter.js';
import { deliveryFigures } from './load-figures.js';
import type { Scenario } from './scenario.js';

const FROM = `a@${BENCH_DOMAIN}`;
const TO = `${BENCH_MAILBOX}@${BENCH_DOMAIN}`;

export function bigMessageScenario(id: string, size: number, quickSize: number): Scenario {
  return {
    id,
    kind: 'big',
    postfix: false,
    async run(ctx: BenchContext, target) {
      const bytes = ctx.options.quick ? quickSize : size;
      const server = await ctx.startFacteur(id);
      return ctx.measureOn(server, async () => {
        const send = (message: ReturnType<typeof buildMessage>) =>
          runLoad({ host: '127.0.0.1', port: server.setup.inboundPort, sessions: 1, messages: 1, perConnection: 1, pipelining: ctx.options.pipelining, message, from: FROM, recipients: [TO], heloName: 'client.bench.test', idleTimeoutMs: 300_000 });
        // Warm-up with a 1 MiB message: buffers and code paths of a large transfer exist before the baseline.
        await send(buildMessage(1024 * 1024, FROM, TO));
        const base = await countFiles(server.maildirNew);
        flushDisk();
        const message = buildMessage(bytes, FROM, TO);
        ctx.progress(`  facteur: one message of ${message.size} octets`);
        const meter = new ServerMeter(server.pid, true);
        const wallStart = Date.now();
        const result = await send(message);
        const arrival = await waitForFiles(server.maildirNew, base + result.accepted, ctx.deadline());
        const usage = await meter.stop();
        const wallSeconds = (Math.max(wallStart + (result.endMs - result.startMs), arrival.lastAddedMs) - wallStart) / 1000;
        const problems: string[] = [];
        if (result.accepted !== 1) problems.push(`the message was not accepted: ${JSON.stringify(result.errors)}`);
        if (arrival.count - base < result.accepted) problems.push('the accepted message is not in new/');
        const growth = usage.rssPeak - usage.rssStart;
        return {
          id,
          kind: 'big',
          target,
          ok: problems.length === 0,
          problems,
          method:
            `one message of ${message.size} octets over one session, written by the client in 64 KiB blocks with backpressure, ` +
            `after a 1 MiB warm-up message; RSS growth = peak VmHWM during the transfer (reset through clear_refs at its start) ` +
            `− VmRSS at its start, of the server process`,
          params: { messageSize: message.size },
          figures: {
            durable: arrival.count - base,
            ...deliveryFigures(result, message.size, wallSeconds, usage),
            rssGrowthMb: mb(growth),
            rssGrowthPercentOfMessage: round((growth / message.size) * 100),
          },
          errors: result.errors,
        };
      });
    },
  };
}
