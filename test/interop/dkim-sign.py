#!/usr/bin/python3
# An independent DKIM signer for the tests: dkimpy (Debian's python3-dkim) signs the message read on stdin and prints
# its DKIM-Signature field (CRLF-terminated, to be put on top of the message).
#   dkim-sign.py KEYFILE DOMAIN SELECTOR ALGORITHM HEADER/BODY [LENGTH]
# KEYFILE: a PKCS#1 PEM RSA key for rsa-sha256, or the base64 of an Ed25519 seed for ed25519-sha256; HEADER/BODY:
# the canonicalisations, as in c= ("relaxed/simple"); LENGTH "l" adds the body length tag l=.
import sys

import dkim


def main():
    keyfile, domain, selector, algorithm, canon = sys.argv[1:6]
    length = len(sys.argv) > 6 and sys.argv[6] == 'l'
    with open(keyfile, 'rb') as f:
        key = f.read().strip()
    header, body = canon.split('/')
    field = dkim.sign(sys.stdin.buffer.read(), selector.encode(), domain.encode(), key,
                      canonicalize=(header.encode(), body.encode()), signature_algorithm=algorithm.encode(),
                      length=length)
    sys.stdout.buffer.write(field)


main()
