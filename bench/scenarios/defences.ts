// The defences at the door (issue 15) against their cost: one inbound cell measured on two fresh servers, the
// defences off and on, in alternating rounds (off, on, on, off, …) so that the shared machine's drift falls on
// both alike; the figure that matters is the ratio of their throughputs.
import { DnsStub } from '../dns-stub.js';
import type { FacteurProcess } from '../facteur-process.js';
import { buildMessage } from '../message.js';
import { inboundPairResult } from './alternating.js';
import { FROM, TO, warmServer } from './inbound.js';
import { failedResult, type Scenario } from './scenario.js';

export interface DoorCell {
  readonly size: number;
  readonly sessions: number;
  readonly perConnection: 'one' | 'many';
  readonly messages: number;
  readonly quickMessages: number;
}

/**
 * The defences on: the per-client limits count every connection, MAIL and RCPT (set above what the bench sends,
 * so none is reached) and a DNSBL is asked about the client. The bench client is on loopback, exempt by default:
 * the list of exempt networks is emptied.
 */
const DOOR_ON = `limits_exempt = []
max_connections_per_client = 1000
max_connection_rate = 1000000
max_message_rate = 1000000
max_recipient_rate = 1000000
dnsbl = ["bl.bench.test"]
`;

export function doorScenario(id: string, cell: DoorCell): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'inbound',
    postfix: false,
    async run(ctx, target) {
      // An empty zone: every question gets NXDOMAIN, so the client is not listed (and the answer is cached 5 minutes).
      const dns = await DnsStub.start({});
      const servers: FacteurProcess[] = [];
      try {
        const off = await ctx.startFacteur(`${id}-off`);
        servers.push(off);
        const on = await ctx.startFacteur(`${id}-on`, { inboundExtra: DOOR_ON, dnsServers: [dns.address] });
        servers.push(on);
        for (const server of [off, on]) await warmServer(ctx, server);
        const result = await inboundPairResult(ctx, id, { ...cell, message: buildMessage(cell.size, FROM, TO), from: FROM, to: TO }, [[off, on]], {
          what: 'the defences',
          message: '',
          sides:
            'the defences at the door off and on (per-client limits counting, none reached; a DNSBL asked through a DNS server on loopback, ' +
            'the client not listed)',
          targetRatio: 0.9,
        });
        const problems = [...result.problems, ...(dns.queries === 0 ? ['the DNSBL was never asked'] : [])];
        return { ...result, ok: problems.length === 0, problems, target, profile: null };
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      } finally {
        for (const s of servers) {
          await ctx.stopFacteur(s);
          await ctx.discard(s);
        }
        await dns.close();
      }
    },
  };
  return scenario;
}
