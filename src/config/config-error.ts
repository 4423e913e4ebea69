// A config that cannot be used: every problem found, each printed as one "FILE: key: problem" line.

export interface ConfigProblem {
  /** The config file as the user named it, or "(defaults)" for the built-in defaults. */
  readonly file: string;
  /** Dotted key ("inbound.max_message_size"), "line 3, column 7" for TOML syntax, "(file)" when unreadable. */
  readonly key: string;
  readonly problem: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}: ${p.key}: ${p.problem}`;
}
