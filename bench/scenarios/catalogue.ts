// Every scenario of the suite, in the order they run, and how a --scenario selection picks among them.
import { bigMessageScenario } from './big-message.js';
import { doorScenario } from './defences.js';
import { idleScenario } from './idle.js';
import { inboundScenario } from './inbound.js';
import { lmtpScenario } from './lmtp.js';
import { mailauthInboundScenario } from './mailauth.js';
import { mailauthRelayScenario } from './mailauth-relay.js';
import { outboundScenario } from './outbound.js';
import { queueReloadScenario } from './queue-reload.js';
import { rspamdScenario } from './rspamd.js';
import type { Scenario } from './scenario.js';

const KIB = 1024;

export function catalogue(): Scenario[] {
  const list: Scenario[] = [];
  for (const [label, size, messages, quickMessages] of [
    ['4k', 4 * KIB, 2000, 12],
    ['100k', 100 * KIB, 500, 6],
  ] as const) {
    for (const sessions of [1, 8, 32, 128]) {
      for (const perConnection of ['one', 'many'] as const) {
        list.push(inboundScenario(`inbound-${label}-s${sessions}-${perConnection}`, { size, sessions, perConnection, messages, quickMessages }));
      }
    }
  }
  // The defences at the door (issue 15): one cell with them off and on, measured in alternation.
  for (const perConnection of ['one', 'many'] as const) {
    list.push(doorScenario(`defences-4k-s32-${perConnection}`, { size: 4 * KIB, sessions: 32, perConnection, messages: 2000, quickMessages: 12 }));
  }
  // LMTP to Dovecot (issue 16): facteur and Postfix handing the same messages to the same Dovecot.
  for (const perConnection of ['one', 'many'] as const) {
    list.push(lmtpScenario(`lmtp-4k-s32-${perConnection}`, { size: 4 * KIB, sessions: 32, perConnection, messages: 2000, quickMessages: 12 }));
  }
  list.push(rspamdScenario('rspamd-4k-s32', { size: 4 * KIB, sessions: 32, messages: 2000, quickMessages: 12 }));
  list.push(idleScenario('idle-1000', 1000, 20));
  list.push(idleScenario('idle-10000', 10_000, 40));
  list.push(bigMessageScenario('big-100m', 100 * 1024 * KIB, 2 * 1024 * KIB));
  list.push(outboundScenario('outbound-4k-s8-one', { size: 4 * KIB, sessions: 8, perConnection: 'one', messages: 2000, quickMessages: 8 }));
  list.push(outboundScenario('outbound-4k-s32-many', { size: 4 * KIB, sessions: 32, perConnection: 'many', messages: 2000, quickMessages: 8 }));
  // Mail clients: a login over implicit TLS per connection, beside the relay's outbound-4k-s8-one (issue 11 asks for 60 % of it).
  list.push(outboundScenario('submission-4k-s8-one', { via: 'submission', size: 4 * KIB, sessions: 8, perConnection: 'one', messages: 2000, quickMessages: 8 }));
  // Mail authentication (issue 10): servers with it off and on, measured in alternating rounds (alternating.ts), of
  // 1,000 messages per side: with 250 (2,000 in all) the ratio of one run to the next varied by ±0.1 on this machine.
  for (const [sessions, perConnection] of [[8, 'one'], [8, 'many'], [32, 'one'], [32, 'many']] as const) {
    list.push(mailauthInboundScenario(`mailauth-inbound-4k-s${sessions}-${perConnection}`, { size: 4 * KIB, sessions, perConnection, messages: 8000, quickMessages: 12 }));
  }
  // The relay: signing off, with an RSA-2048 key (what receivers expect), and with an Ed25519 key alone.
  for (const [sessions, perConnection] of [[8, 'one'], [32, 'many']] as const) {
    list.push(mailauthRelayScenario(`mailauth-relay-4k-s${sessions}-${perConnection}`, { size: 4 * KIB, sessions, perConnection, messages: 2000, quickMessages: 8 }));
  }
  list.push(queueReloadScenario('queue-100000', 100_000, 200));
  return list;
}

/**
 * The scenarios a selection names: an exact id, or a prefix ending at a dash ("inbound" picks every inbound-…,
 * "inbound-4k" every 4 KiB one). Throws on a selection that names nothing, listing the ids.
 */
export function select(all: readonly Scenario[], selections: readonly string[]): Scenario[] {
  if (selections.length === 0) return [...all];
  const picked = new Set<Scenario>();
  for (const sel of selections) {
    const hits = all.filter((s) => s.id === sel || s.id.startsWith(`${sel}-`));
    if (hits.length === 0) throw new Error(`no scenario "${sel}"; the scenarios are:\n  ${all.map((s) => s.id).join('\n  ')}`);
    for (const h of hits) picked.add(h);
  }
  return all.filter((s) => picked.has(s));
}
