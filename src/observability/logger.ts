// The structured logger (pino): one JSON line per event, a child logger per session carrying its id.
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type Logger = PinoLogger;

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Absolute path of a log file, or null for stderr. */
  readonly file: string | null;
}

export function createLogger(opts: LoggerOptions): Logger {
  // Synchronous writes: a log line about a crash must reach the disk before the process dies.
  const destination = pino.destination({ dest: opts.file ?? 2, sync: true, mkdir: true });
  return pino({ level: opts.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
