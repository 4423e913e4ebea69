// The effective configuration, after defaults, unit parsing and path resolution (see shared INTERFACE.md).
// Every path here is absolute; every duration is in milliseconds; every size is in bytes.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** One listen address: "[::]:25" → { host: "::", port: 25 }. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** As written in the config, for messages: "[::]:25". */
  readonly text: string;
}

export interface InboundConfig {
  readonly enabled: boolean;
  readonly listen: readonly ListenAddress[];
  readonly listenTls: readonly ListenAddress[];
  /** Local domains, lower-cased. */
  readonly domains: readonly string[];
  /** <data_dir>/<maildir_root>, absolute. */
  readonly maildirRoot: string;
  /** Absolute path of the "carte"-format users file, or null. */
  readonly usersFile: string | null;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  /** mailbox name → addresses delivered into it (from [inbound.users]). */
  readonly users: Readonly<Record<string, readonly string[]>>;
}

export interface OutboundConfig {
  readonly enabled: boolean;
  readonly listen: readonly ListenAddress[];
  /** <data_dir>/<queue_dir>, absolute. */
  readonly queueDir: string;
  /** Port dialled on remote MX hosts. */
  readonly smtpPort: number;
  /**
   * The relay's DNS servers: outbound.dns_servers, else the top-level dns_servers (the one resolver of the
   * program); empty: the nameservers of /etc/resolv.conf.
   */
  readonly dnsServers: readonly string[];
  /** Whether plain text is ever allowed: "verify" in the file implies "required" here. */
  readonly tls: 'opportunistic' | 'required';
  /** outbound.tls as written: "verify" also asks for a verified certificate for every domain (see tlsPolicy in src/outbound/tls-policy). */
  readonly tlsMode: 'opportunistic' | 'required' | 'verify';
  /** Absolute path of a PEM file of CAs trusted beyond the system's (MX hosts and MTA-STS policy hosts), or null. */
  readonly caFile: string | null;
  /** Honour MTA-STS policies (RFC 8461). */
  readonly mtaSts: boolean;
  /** Honour DANE TLSA records (RFC 7672); needs DNS servers that validate DNSSEC (the AD bit). */
  readonly dane: boolean;
  readonly retryMin: number;
  readonly retryMax: number;
  readonly queueLifetime: number;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  /** Deliveries in flight at once, in total and towards one domain. */
  readonly concurrency: number;
  readonly concurrencyPerDomain: number;
}

/** Timeouts of the SMTP dialogue (RFC 5321 §4.5.3.2), in ms. */
export interface TimeoutsConfig {
  /** Server: waiting for the next command (§4.5.3.2.7: at least 5 minutes). */
  readonly command: number;
  /** Server: waiting for the next chunk of DATA. */
  readonly data: number;
  /** Client: connect + greeting (§4.5.3.2.1: 5 minutes). */
  readonly connect: number;
  /** Grace period given to sessions at shutdown. */
  readonly shutdownGrace: number;
}

export interface Config {
  /** Absolute path of the file read, or null for built-in defaults. */
  readonly file: string | null;
  readonly hostname: string;
  readonly dataDir: string;
  /** The DNS servers of every lookup (top-level dns_servers); empty: the nameservers of /etc/resolv.conf. */
  readonly dnsServers: readonly string[];
  readonly log: { readonly level: LogLevel; readonly file: string | null };
  readonly tls: { readonly cert: string | null; readonly key: string | null };
  readonly timeouts: TimeoutsConfig;
  readonly inbound: InboundConfig;
  readonly outbound: OutboundConfig;
}
