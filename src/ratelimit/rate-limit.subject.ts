import { createHmac, hkdfSync } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The counter bucket of a client address: IPv4 as it is, IPv6 by its /64 network (one subscriber
 * usually holds a whole /64, so per-address counting would give them 2^64 counters). The address
 * is express's `req.ip`, which follows X-Forwarded-For only through proxies listed in TRUST_PROXY.
 */
export function clientBucket(ip: string): string {
  const address = ip.split('%')[0];
  const mapped = MAPPED_IPV4.exec(address);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return 'unknown';
  const [head, tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail takes two groups; only the first four groups matter here.
  const rightGroups = right.length > 0 && right[right.length - 1].includes('.') ? right.length + 1 : right.length;
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - rightGroups }, () => '0');
  const groups = [...left, ...zeros, ...right].slice(0, 4).map((group) => parseInt(group, 16).toString(16));
  return `${groups.join(':')}::/64`;
}

/**
 * Keyed digests for subjects that must not sit in the store in the clear (email addresses). The
 * key is derived from TOKEN_SIGNING_SECRET, which every instance shares, so all instances count
 * an account under one key; changing the secret restarts the counters, as it signs users out.
 */
export class SubjectDigest {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(
      hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'hms-rate-limit', 'hms/rate-limit/subject/v1', 32),
    );
  }

  of(value: string): string {
    return createHmac('sha256', this.key).update(value, 'utf8').digest('base64url').slice(0, 22);
  }
}
