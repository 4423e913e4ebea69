#!/usr/bin/python3
# An independent DKIM verifier for the tests: dkimpy (Debian's python3-dkim) checks every DKIM-Signature of the message
# read on stdin, fetching the public keys with dnspython from the DNS server given as HOST:PORT (the tests' server on
# loopback). Prints a JSON list, one entry per signature: {"a": algorithm, "d": domain, "s": selector, "ok": bool,
# "why": reason of a failure}.
import json
import re
import sys

import dkim
import dns.resolver


def main():
    host, port = sys.argv[1].rsplit(':', 1)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)

    def txt(name, timeout=5):
        name = name.decode('ascii') if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(name, 'TXT', lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b''.join(answer[0].strings)

    message = sys.stdin.buffer.read()
    count = len(re.findall(rb'(?im)^dkim-signature:', message.split(b'\n\n', 1)[0].split(b'\r\n\r\n', 1)[0]))
    results = []
    for i in range(count):
        d = dkim.DKIM(message)
        sig = d.verify_headerprep(i)[0]
        try:
            ok, why = bool(d.verify(idx=i, dnsfunc=txt)), ''
        except dkim.DKIMException as e:  # a body hash mismatch is raised, not returned
            ok, why = False, str(e)
        results.append({'a': sig[b'a'].decode(), 'd': sig[b'd'].decode(), 's': sig[b's'].decode(), 'ok': ok, 'why': why})
    print(json.dumps(results))


main()
