// The fields of a header section (RFC 5322 §2.2): name and unfolded value, for reading a few of them.

export interface HeaderField {
  /** Lower-cased, without the colon. */
  readonly name: string;
  /** After the colon, continuation lines joined (RFC 5322 §2.2.3 unfolding), as UTF-8 text. */
  readonly value: string;
}

/** Every field of a header section, in order. Lines that are neither a field nor a continuation are skipped. */
export function headerFields(section: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let name: string | null = null;
  let value = '';
  const close = () => {
    if (name !== null) fields.push({ name, value });
    name = null;
  };
  for (const raw of section.toString('utf8').split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      close();
      break; // the empty line ends the header section
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (name !== null) value += line;
      continue;
    }
    close();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    name = line.slice(0, colon).trimEnd().toLowerCase();
    value = line.slice(colon + 1);
  }
  close();
  return fields;
}
