// Unique Maildir file names "<seconds>.M<usec>P<pid>Q<counter>.<host>" (cr.yp.to/proto/maildir.html).

export interface MaildirNamerOptions {
  /** The machine's name as configured; "/" and ":" are escaped as the Maildir spec asks. */
  readonly hostname: string;
  readonly pid: number;
  readonly now: () => Date;
}

/** The host part of a name: "/" would split the path and ":" starts the Maildir info suffix. */
export function maildirHost(hostname: string): string {
  const host = hostname === '' ? 'localhost' : hostname;
  return host.replaceAll('/', '\\057').replaceAll(':', '\\072');
}

/**
 * One namer per process, shared by every session: the counter lives in the instance (not in a global,
 * and never read outside its increment, the ancestor's race), so pid + counter make names unique
 * within the process even when many deliveries happen in the same microsecond.
 */
export class MaildirNamer {
  readonly #now: () => Date;
  readonly #pid: number;
  readonly #host: string;
  #counter = 0;

  constructor(opts: MaildirNamerOptions) {
    this.#now = opts.now;
    this.#pid = opts.pid;
    this.#host = maildirHost(opts.hostname);
  }

  next(): string {
    const ms = this.#now().getTime();
    const seconds = Math.floor(ms / 1000);
    // The injected clock has millisecond resolution; the M field keeps the spec's unit (microseconds).
    const micros = (ms - seconds * 1000) * 1000;
    this.#counter += 1;
    return `${seconds}.M${micros}P${this.#pid}Q${this.#counter}.${this.#host}`;
  }
}
