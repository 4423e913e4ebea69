// The queue at scale: N deferred messages on disk, then facteur starts on them; time until it serves, and its memory.
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/observability/logger.js';
import { newRecipient, type QueueItem } from '../../src/outbound/queue-item.js';
import { encodeEnvelope, encodeState } from '../../src/outbound/queue-file.js';
import { QueueStore } from '../../src/outbound/queue-store.js';
import type { BenchContext } from '../context.js';
import { peakRssBytes, treeCpuMs, treeRssBytes } from '../proc-stats.js';
import { round } from '../result.js';
import { mb } from '../server-meter.js';
import type { Scenario } from './scenario.js';

/** Files written at once while filling the queue. */
const FILL_PARALLEL = 64;
/** Body of every queued message: 1 KiB (the reload reads only the .json files of deferred items; the size changes nothing). */
const BODY = Buffer.from(`From: <sender@bench.test>\nTo: <r@remote.bench.test>\nSubject: queued\n\n${'queued message body line\n'.repeat(40)}`, 'latin1');

export function queueReloadScenario(id: string, items: number, quickItems: number): Scenario {
  return {
    id,
    kind: 'queue',
    postfix: false,
    async run(ctx: BenchContext, target) {
      const count = ctx.options.messages ?? (ctx.options.quick ? quickItems : items);
      const dir = join(ctx.workDir, `queue-${id}`);
      const queueDir = join(dir, 'data', 'queue');
      ctx.progress(`  facteur: writing ${count} deferred queue items`);
      const t0 = performance.now();
      await fillQueue(queueDir, count);
      spawnSync('sync'); // the reload is timed from a clean page cache state of dirty data, not from writeback
      const fillSeconds = (performance.now() - t0) / 1000;

      ctx.progress(`  facteur: starting on a queue of ${count}`);
      // No deliveries: every item waits an hour, and the remote side does not exist (port 1, no DNS server).
      const server = await ctx.startFacteur(id, { dir, inbound: false, outbound: true, smtpPort: 1, dnsServers: ['127.0.0.1:1'] });
      return ctx.measureOn(server, async () => {
        const rssReady = treeRssBytes(server.pid);
        const cpuReady = treeCpuMs(server.pid);
        await new Promise((r) => setTimeout(r, ctx.options.quick ? 200 : 2_000)); // settle: timers set, garbage collected
        const rssSettled = treeRssBytes(server.pid);
        const names = await readdir(queueDir);
        const json = names.filter((n) => n.endsWith('.json')).length;
        const corrupt = names.filter((n) => n.endsWith('.corrupt')).length;
        const problems: string[] = [];
        if (json !== count) problems.push(`${json} of ${count} items left in the queue after the start`);
        if (corrupt > 0) problems.push(`${corrupt} items were moved aside as unreadable`);
        return {
          id,
          kind: 'queue',
          target,
          ok: problems.length === 0,
          problems,
          method:
            `${count} queue items (<id>.msg made with src/outbound/queue-file.ts encodeEnvelope + a 1 KiB message, <id>.json with ` +
            `src/outbound/queue-file.ts encodeState, ids from QueueStore.newId), each deferred for an hour, written without fsync then sync(1); then \`facteur start\` on that queue ` +
            `(relay only); ready = spawn → the relay's first 220 (the queue is loaded before the relay listens); ` +
            `RSS of the server process at ready and 2 s later; peak = VmHWM over its life`,
          params: { items: count },
          figures: {
            items: count,
            fillSeconds: round(fillSeconds),
            readySeconds: round(server.readyMs / 1000),
            cpuMsToReady: round(cpuReady),
            rssReadyMb: mb(rssReady),
            rssSettledMb: mb(rssSettled),
            peakRssMb: mb(peakRssBytes(server.pid)),
            itemsAfterStart: json,
          },
          errors: {},
        };
      });
    },
  };
}

/** Writes `count` deferred items in the store's own format (queue-file.ts, queue-item.ts). */
async function fillQueue(queueDir: string, count: number): Promise<void> {
  await mkdir(queueDir, { recursive: true, mode: 0o700 });
  const { store } = await QueueStore.open({ dir: queueDir, logger: silentLogger(), now: Date.now });
  const created = new Date().toISOString();
  const next = new Date(Date.now() + 3_600_000).toISOString();
  let made = 0;
  const writer = async () => {
    while (made < count) {
      made++;
      const id = store.newId();
      const item: QueueItem = {
        id,
        from: 'sender@bench.test',
        reversePath: { local: 'sender', domain: 'bench.test' },
        created,
        size: BODY.length,
        eightBit: false,
        smtputf8: false,
        recipients: [
          {
            ...newRecipient('r@remote.bench.test', { local: 'r', domain: 'remote.bench.test' }),
            status: 'deferred',
            attempts: 1,
            nextAttempt: next,
            lastError: '421 4.3.2 bench: remote busy',
            diagnostic: '421 4.3.2 bench: remote busy',
            lastAttempt: created,
          },
        ],
      };
      // What a deferred item is after its first attempt: <id>.msg as it arrived, <id>.json with the new state.
      await writeFile(store.msgPath(id), Buffer.concat([encodeEnvelope(item), BODY]), { mode: 0o600 });
      await writeFile(store.jsonPath(id), encodeState(item), { mode: 0o600 });
    }
  };
  await Promise.all(Array.from({ length: FILL_PARALLEL }, writer));
}
