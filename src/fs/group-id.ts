// A group name to its gid, as chgrp does it for local groups: a number is taken as is, a name looked up in /etc/group.
import { readFile } from 'node:fs/promises';

/** Throws when the name is in no line of /etc/group (groups only known to NSS services, LDAP, must be given by number). */
export async function groupId(name: string, groupFile = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const text = await readFile(groupFile, 'utf8');
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`group "${name}" is not in ${groupFile} (give its number instead)`);
}
