// The structured logger (pino): one JSON line per event, a child logger per session carrying its id.
import { chmodSync, statSync, writeSync } from 'node:fs';
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type Logger = PinoLogger;

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Absolute path of a log file, or null for stderr. */
  readonly file: string | null;
}

/** Lines gathered before a write(2); they wait at most FLUSH_MS. */
const BUFFER_BYTES = 8 * 1024;
const FLUSH_MS = 100;
/** Lines held while the log cannot be written (disk full): past this, new lines are dropped, not memory taken. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;
const WARN = 40;
/**
 * The log holds client addresses, envelope addresses and, at debug level, every command: it is as private as the
 * Maildirs and the queue, so only facteur's own user may read it.
 */
export const LOG_FILE_MODE = 0o600;

export function createLogger(opts: LoggerOptions): Logger {
  // Informational lines (several per message) are gathered and written every FLUSH_MS or every BUFFER_BYTES: one
  // write(2) per line cost the relay 5 % of its event loop. A warning or an error is written at once, with every
  // line before it, so a log line about a crash reaches the disk before the process dies; only a SIGKILL can
  // lose the last FLUSH_MS of informational lines. `start` flushes before it exits.
  const destination = pino.destination({
    dest: opts.file ?? 2,
    sync: true,
    minLength: BUFFER_BYTES,
    maxLength: MAX_HELD_BYTES,
    periodicFlush: FLUSH_MS,
    mkdir: true,
    mode: LOG_FILE_MODE,
  });
  // A log file that cannot be written (disk full) or reopened (its folder gone) must not take the server down with
  // an unhandled 'error' event: say so on stderr, where systemd's journal still reads it. With write(2) on fd 2, not
  // process.stderr: a stderr that is itself broken (EPIPE once journald went away) would make process.stderr emit an
  // 'error' nobody handles, which ends the process.
  destination.on('error', (err: Error) => {
    try {
      writeSync(2, `facteur: log file ${opts.file ?? 'stderr'}: ${err.message}\n`);
    } catch {
      // Nowhere left to say it.
    }
  });
  // The mode above applies to a file we create; one left by an earlier version or another tool is narrowed too.
  const narrowed = opts.file === null ? null : restrictMode(opts.file);
  // A child logger copies its parent's level when it is made: each one is remembered (weakly) so that a reload can
  // change the level of them all.
  const children = new Set<WeakRef<PinoLogger>>();
  // Short-lived children (one per session, one per delivery attempt) are forgotten once collected: swept when the set
  // has doubled since the last sweep. A fixed threshold swept the whole set at every new child once that many were
  // alive (or not yet collected), which took 9 % of the relay's event loop under load; doubling keeps it amortised O(1).
  let sweepAt = SWEEP_CHILDREN_AT;
  const logger = pino(
    {
      level: opts.level,
      onChild: (child) => {
        if (children.size >= sweepAt) {
          for (const ref of children) if (ref.deref() === undefined) children.delete(ref);
          sweepAt = Math.max(SWEEP_CHILDREN_AT, 2 * children.size);
        }
        children.add(new WeakRef(child));
      },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method, level) {
          method.apply(this, args);
          // flush(), not flushSync(): in sync mode both write what is held at once, but flushSync() retries a failed
          // write(2) for ever (every 100 ms) unless the error is EAGAIN, so a full disk or a broken stderr pipe hung
          // the whole server at its first warning. flush() tries once and reports the failure through 'error'.
          if (level >= WARN) destination.flush();
        },
      },
    },
    destination,
  );
  (logger as unknown as Record<symbol, unknown>)[CHILDREN] = children;
  if (narrowed !== null) logger.warn({ event: 'log-file-mode', file: opts.file, err: narrowed }, 'could not make the log file private (chmod 600)');
  return logger;
}

/** chmod 600 on a regular file (never on a device such as /dev/stdout); the error if that failed, else null. */
function restrictMode(file: string): Error | null {
  try {
    if (statSync(file).isFile()) chmodSync(file, LOG_FILE_MODE);
    return null;
  } catch (err) {
    return err as Error;
  }
}

const CHILDREN = Symbol('facteur.logger.children');
const SWEEP_CHILDREN_AT = 1024;

/** SIGHUP with a new log.level: the logger and every child made from it log at `level` from now on. */
export function setLogLevel(logger: Logger, level: LogLevel): void {
  logger.level = level;
  const children = (logger as unknown as Record<symbol, Set<WeakRef<PinoLogger>> | undefined>)[CHILDREN];
  if (children === undefined) return;
  for (const ref of children) {
    const child = ref.deref();
    if (child === undefined) children.delete(ref);
    else child.level = level;
  }
}

/**
 * Reopens the log file under its configured name (SIGHUP, SIGUSR1), after logrotate has moved it away: lines
 * logged before the call are written to the old file first, so none is lost or split, and every line after goes
 * to the new file, created private. Logging to stderr: nothing to do.
 */
export function reopenLog(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { file?: unknown; flush(): void; reopen(): void } | undefined;
  if (stream === undefined || typeof stream.file !== 'string') return;
  // Written at once (sync mode); what a full disk refuses stays held and goes to the new file (see createLogger).
  stream.flush();
  stream.reopen();
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
