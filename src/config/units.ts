// Durations ("250ms", "30s", "5m", "1h", "5d") and sizes ("25MB", "512KB", 1048576) of the config file, both ways.

/** A value that is not a valid duration or size; the message says what is expected. */
export class UnitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnitError';
  }
}

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type DurationUnit = keyof typeof DURATION_UNITS;

// Binary multiples, as the README's Configuration section says: KB = 1024 bytes, MB = 1024 KB.
const SIZE_UNITS = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as const;
type SizeUnit = keyof typeof SIZE_UNITS;

const DURATION_HINT = 'write a whole number and a unit: "250ms", "30s", "5m", "1h" or "5d"';
const SIZE_HINT = 'write a whole number of bytes or a number and a unit: "512KB", "25MB", "1GB"';

/**
 * "30s" → 30000 (milliseconds). The unit is required: a bare number could mean seconds or
 * milliseconds, and a wrong guess makes a timeout 1000 times off.
 */
export function parseDuration(value: unknown): number {
  if (typeof value !== 'string') throw new UnitError(`expected a duration string such as "30s", found ${describeValue(value)}`);
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
  if (match === null) {
    if (/^\d+$/.test(value.trim())) throw new UnitError(`"${value}" has no unit: ${DURATION_HINT}`);
    throw new UnitError(`"${value}" is not a duration: ${DURATION_HINT}`);
  }
  const ms = Number(match[1]) * DURATION_UNITS[match[2] as DurationUnit];
  if (!Number.isSafeInteger(ms)) throw new UnitError(`"${value}" is too long`);
  return ms;
}

/** "25MB" → 26214400, "100B" → 100, 4096 → 4096, "4096" → 4096 (bytes). */
export function parseSize(value: unknown): number {
  let bytes: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new UnitError(`${value} is not a whole number of bytes: ${SIZE_HINT}`);
    bytes = value;
  } else if (typeof value === 'string') {
    const match = /^(\d+)\s*(B|KB|MB|GB)?$/i.exec(value.trim());
    if (match === null) throw new UnitError(`"${value}" is not a size: ${SIZE_HINT}`);
    bytes = Number(match[1]) * SIZE_UNITS[(match[2]?.toUpperCase() ?? 'B') as SizeUnit];
  } else {
    throw new UnitError(`expected a size such as "25MB" or a number of bytes, found ${describeValue(value)}`);
  }
  if (!Number.isSafeInteger(bytes)) throw new UnitError(`${JSON.stringify(value)} is too large`);
  return bytes;
}

/** 300000 → "5m": the largest unit that divides the value exactly (so the text parses back to the same value). */
export function formatDuration(ms: number): string {
  const units: DurationUnit[] = ['d', 'h', 'm', 's'];
  for (const unit of units) {
    const size = DURATION_UNITS[unit];
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** 26214400 → "25MB", 1000 → "1000B": exact, so it parses back to the same value. */
export function formatSize(bytes: number): string {
  const units: SizeUnit[] = ['GB', 'MB', 'KB'];
  for (const unit of units) {
    const size = SIZE_UNITS[unit];
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/** How a TOML value is named in a problem: "a number (5)", "a list", "a table", "a date". */
export function describeValue(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a table';
  if (typeof value === 'string') return `a string (${JSON.stringify(value)})`;
  if (typeof value === 'boolean') return `a boolean (${value})`;
  return `a number (${String(value)})`;
}
