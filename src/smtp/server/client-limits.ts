// Per-client limits, as Postfix's anvil keeps them: connections at once, and connections, messages and recipients
// per minute, for each client address (an IPv6 client is its /64: one host usually holds the whole prefix).
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { addNetwork } from '../../net/networks.js';
import { rememberBounded } from '../../cache/bounded-map.js';

export interface ClientLimitSettings {
  /** Connections open at once from one client. */
  readonly maxConnections: number;
  /** New connections per minute from one client. */
  readonly maxConnectionRate: number;
  /** MAIL commands per minute from one client. */
  readonly maxMessageRate: number;
  /** RCPT commands per minute from one client. */
  readonly maxRecipientRate: number;
  /** Networks (CIDR, or single addresses) never limited: loopback and the operator's own hosts. */
  readonly exempt: readonly string[];
}

/** Which limit a client reached, for the reply and the log. */
export type ClientLimit = 'connections' | 'connection rate' | 'message rate' | 'recipient rate';

const MINUTE = 60_000;
/** Clients remembered at most; past it, those idle for two minutes are forgotten (they would count zero anyway). */
const SWEEP_AT = 10_000;

/**
 * A rate over the last minute, kept in two counters (this minute, the previous one) and estimated as a sliding
 * window: the previous minute's count weighs what is left of it. Constant memory, decays by itself.
 */
class RateCounter {
  private minute = -1;
  private current = 0;
  private previous = 0;

  /** Counts one event at `now`; returns the estimated count over the last minute, this event included. */
  add(now: number): number {
    this.roll(now);
    this.current += 1;
    return this.estimate(now);
  }

  estimate(now: number): number {
    this.roll(now);
    const intoMinute = (now % MINUTE) / MINUTE;
    return this.current + this.previous * (1 - intoMinute);
  }

  private roll(now: number): void {
    const minute = Math.floor(now / MINUTE);
    if (minute === this.minute) return;
    this.previous = minute === this.minute + 1 ? this.current : 0;
    this.current = 0;
    this.minute = minute;
  }

  /** True when nothing was counted in the last two minutes. */
  idle(now: number): boolean {
    return Math.floor(now / MINUTE) > this.minute + 1;
  }
}

interface ClientState {
  open: number;
  readonly connections: RateCounter;
  readonly messages: RateCounter;
  readonly recipients: RateCounter;
}

/** What the server asks of the limits: ClientLimits in one process, or its worker's proxy to the primary's (src/workers). */
export interface ClientLimiter {
  admit(ip: string): { readonly refused: ClientLimit } | { readonly release: () => void };
  message(ip: string): ClientLimit | null | Promise<ClientLimit | null>;
  recipient(ip: string): ClientLimit | null | Promise<ClientLimit | null>;
  update(settings: ClientLimitSettings): void;
}

/** Distinct client addresses whose exemption is remembered: BlockList.check parses its argument on every call. */
const EXEMPT_MEMO = 4096;

export class ClientLimits implements ClientLimiter {
  private exempt = new BlockList();
  /** isExempt's answers per address, for the current limits_exempt (cleared by update and when full). */
  private readonly exemptMemo = new Map<string, boolean>();
  private readonly clients = new Map<string, ClientState>();

  constructor(
    private settings: ClientLimitSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.update(settings);
  }

  /** New limits (SIGHUP): counts so far are kept, and judged by the new limits from now on. */
  update(settings: ClientLimitSettings): void {
    const exempt = new BlockList();
    for (const network of settings.exempt) addNetwork(exempt, network);
    this.settings = settings;
    this.exempt = exempt;
    this.exemptMemo.clear();
  }

  /**
   * A new connection from `ip`: the limit it would exceed (the connection is then not counted as open), or a
   * function to call once it has ended.
   */
  admit(ip: string): { readonly refused: ClientLimit } | { readonly release: () => void } {
    if (this.isExempt(ip)) return { release: () => undefined };
    const key = clientKey(ip);
    const state = this.state(key);
    const rate = state.connections.add(this.now());
    if (state.open >= this.settings.maxConnections) return { refused: 'connections' };
    if (rate > this.settings.maxConnectionRate) return { refused: 'connection rate' };
    state.open += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        state.open -= 1;
      },
    };
  }

  /** A MAIL command from `ip`: 'message rate' when it is one too many. */
  message(ip: string): ClientLimit | null {
    if (this.isExempt(ip)) return null;
    return this.state(clientKey(ip)).messages.add(this.now()) > this.settings.maxMessageRate ? 'message rate' : null;
  }

  /** A RCPT command from `ip`: 'recipient rate' when it is one too many. */
  recipient(ip: string): ClientLimit | null {
    if (this.isExempt(ip)) return null;
    return this.state(clientKey(ip)).recipients.add(this.now()) > this.settings.maxRecipientRate ? 'recipient rate' : null;
  }

  /** True for a client of limits_exempt, never counted. */
  isExempt(ip: string): boolean {
    // Asked three times per message (connection, MAIL, RCPT) for the same few addresses; a check costs a parse.
    let exempt = this.exemptMemo.get(ip);
    if (exempt === undefined) {
      exempt = isIPv4(ip) ? this.exempt.check(ip, 'ipv4') : isIPv6(ip) && this.exempt.check(ip, 'ipv6');
      rememberBounded(this.exemptMemo, ip, exempt, EXEMPT_MEMO);
    }
    return exempt;
  }

  private state(key: string): ClientState {
    let state = this.clients.get(key);
    if (state === undefined) {
      if (this.clients.size >= SWEEP_AT) this.sweep();
      state = { open: 0, connections: new RateCounter(), messages: new RateCounter(), recipients: new RateCounter() };
      this.clients.set(key, state);
    }
    return state;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, s] of this.clients) {
      if (s.open === 0 && s.connections.idle(now) && s.messages.idle(now) && s.recipients.idle(now)) this.clients.delete(key);
    }
  }
}

/** The address a limit is kept for: an IPv4 address, or the /64 of an IPv6 one ("2001:db8:1:2::/64"). */
export function clientKey(ip: string): string {
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

/** "2001:db8::1" → ["2001", "db8", "0", "0", "0", "0", "0", "1"] (an embedded IPv4 tail becomes two groups). */
function expandIPv6(ip: string): string[] {
  const withoutZone = ip.split('%')[0]!;
  const [head, tail = null] = withoutZone.split('::') as [string, string?];
  const groups = (part: string | null): string[] => {
    if (part === null || part === '') return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16).toString(16)];
      const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  };
  const left = groups(head);
  const right = groups(tail);
  const zeros = tail === null ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right];
}
