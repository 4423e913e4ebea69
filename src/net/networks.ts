// Networks written in the config ("192.0.2.0/24", "2001:db8::/32", single addresses), as Node's BlockList.
import type { BlockList } from 'node:net';
import { isIPv4, isIPv6 } from 'node:net';

/** Adds "192.0.2.0/24", "2001:db8::/32" or a single address to the list; throws on anything else. */
export function addNetwork(list: BlockList, network: string): void {
  const [address, bits, extra] = network.trim().split('/');
  if (extra !== undefined || address === undefined) throw new Error(`not an address or network: ${network}`);
  const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (type === null) throw new Error(`not an IP address: ${address}`);
  if (bits === undefined) {
    list.addAddress(address, type);
    return;
  }
  const prefix = Number(bits);
  if (!/^\d{1,3}$/.test(bits) || prefix > (type === 'ipv4' ? 32 : 128)) throw new Error(`not a prefix length: /${bits}`);
  list.addSubnet(address, prefix, type);
}
