// The structured logger (pino): one JSON line per event, a child logger per session carrying its id.
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
const WARN = 40;

export function createLogger(opts: LoggerOptions): Logger {
  // Informational lines (several per message) are gathered and written every FLUSH_MS or every BUFFER_BYTES: one
  // write(2) per line cost the relay 5 % of its event loop. A warning or an error is written at once, with every
  // line before it, so a log line about a crash reaches the disk before the process dies; only a SIGKILL can
  // lose the last FLUSH_MS of informational lines. `start` flushes before it exits.
  const destination = pino.destination({ dest: opts.file ?? 2, sync: true, minLength: BUFFER_BYTES, periodicFlush: FLUSH_MS, mkdir: true });
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method, level) {
          method.apply(this, args);
          if (level >= WARN) destination.flushSync();
        },
      },
    },
    destination,
  );
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
