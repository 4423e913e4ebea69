// `facteur queue list|flush|delete`: through the running server's control socket, or on the files when it is not running.
import type { Config } from '../config/config.js';
import { controlRequest, controlSocketPath, type ControlRequest, type ControlResponse } from '../outbound/queue-control.js';
import { isValidQueueId } from '../outbound/queue-file.js';
import { toQueueEntry, type QueueEntry } from '../outbound/queue-item.js';
import { errorText } from '../observability/error-text.js';
import { QueueStore } from '../outbound/queue-store.js';
import { processOutput, type CommandOutput } from './output.js';

/** Prints the queue (`--json`: an array of {id, from, created, size, recipients}, README, The queue); exit code. */
export async function queueList(config: Config, opts: { json: boolean }, io: CommandOutput = processOutput): Promise<number> {
  let entries: readonly QueueEntry[];
  try {
    const answer = await ask(config, { cmd: 'list' });
    if (answer === null) {
      // Not running: the files are the queue. Read only: a server starting meanwhile owns the cleanup.
      const { items, problems } = QueueStore.inspect(config.outbound.queueDir);
      for (const p of problems) io.err(`warning: ${p}\n`);
      entries = items.map((item) => toQueueEntry(item)).filter((e) => e.recipients.length > 0);
    } else {
      entries = answer.entries ?? [];
    }
  } catch (err) {
    io.err(`facteur queue list: ${errorText(err)}\n`);
    return 1;
  }
  if (opts.json) io.out(`${JSON.stringify(entries, null, 2)}\n`);
  else io.out(formatTable(entries, Date.now()));
  return 0;
}

/** Asks the running server to retry every deferred message now. */
export async function queueFlush(config: Config, io: CommandOutput = processOutput): Promise<number> {
  try {
    const answer = await ask(config, { cmd: 'flush' });
    if (answer === null) {
      io.err('facteur is not running\n');
      return 1;
    }
    io.out('flush requested: every deferred message is being retried\n');
    return 0;
  } catch (err) {
    io.err(`facteur queue flush: ${errorText(err)}\n`);
    return 1;
  }
}

/** Removes one message, without a bounce: through the server when it runs (its queue forgets it), else on disk. */
export async function queueDelete(config: Config, id: string, io: CommandOutput = processOutput): Promise<number> {
  if (!isValidQueueId(id)) {
    io.err(`${JSON.stringify(id)}: not in the queue (queue ids are letters and digits)\n`);
    return 1;
  }
  try {
    const answer = await ask(config, { cmd: 'delete', id });
    const deleted = answer === null ? await QueueStore.removeWhileStopped(config.outbound.queueDir, id) : answer.deleted === true;
    if (!deleted) {
      io.err(`${id}: not in the queue\n`);
      return 1;
    }
    io.out(`${id}: deleted\n`);
    return 0;
  } catch (err) {
    io.err(`facteur queue delete: ${errorText(err)}\n`);
    return 1;
  }
}

/** The server's answer (throws if it reports a failure), or null when it is not running. */
async function ask(config: Config, request: ControlRequest): Promise<Extract<ControlResponse, { ok: true }> | null> {
  const answer = await controlRequest(controlSocketPath(config.dataDir), request);
  if (answer === null) return null;
  if (!answer.ok) throw new Error(answer.error);
  return answer;
}

/** One row per message, then one indented line per recipient still to deliver. */
export function formatTable(entries: readonly QueueEntry[], now: number): string {
  if (entries.length === 0) return 'queue is empty\n';
  const lines: string[] = [];
  for (const e of entries) {
    lines.push(`${e.id}  ${age(now - Date.parse(e.created))}  <${e.from}>  ${e.size} bytes`);
    for (const r of e.recipients) {
      const next = r.next_attempt === null ? 'now' : `${r.next_attempt} (${until(Date.parse(r.next_attempt) - now)})`;
      const error = r.last_error === null ? '' : `  last error: ${r.last_error}`;
      lines.push(`    ${r.address}  ${r.status}  attempts ${r.attempts}  next ${next}${error}`);
    }
  }
  const total = `${entries.length} message${entries.length === 1 ? '' : 's'}`;
  return `${lines.join('\n')}\n${total}\n`;
}

/** "42s", "5m", "3h", "2d". */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const until = (ms: number): string => (ms <= 0 ? 'due' : `in ${age(ms)}`);

