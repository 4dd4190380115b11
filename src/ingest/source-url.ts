/**
 * Which urls a source may be fetched from. The service fetches what an admin registers, from
 * inside whatever network it runs in, so a url must not name the service's own network: no
 * loopback, private, link-local, CGNAT, multicast, reserved or metadata address literal. WHATWG
 * URL parsing already folds every IPv4 spelling (2130706433, 0x7f000001, 017700000001, 127.1,
 * 0) into dotted decimal and IPv6 into hex groups, so each address is judged in one form. Names
 * are judged by their spelling only (localhost, *.internal, one-label names): Workers cannot
 * resolve a name before fetching it, so a public name that resolves to an internal address is
 * the network's to refuse, not this check's. The origins SOURCE_URL_ALLOW lists are the only
 * way to reach a host that these rules would refuse.
 */
export interface SourceUrlPolicy {
  /** Origins admitted as they are, http included, such as a local feed server in development. */
  allowedOrigins: readonly string[];
  /**
   * The host the service answered the request on: a source must not be the service. A queued
   * refresh has no request; its url was judged with the host at registration, and each redirect
   * is judged by the other rules.
   */
  serviceHost?: string | undefined;
}

/** Why `text` may not be fetched as a source, or null when it may. */
export function sourceUrlProblem(text: string, policy: SourceUrlPolicy): string | null {
  if (!URL.canParse(text)) return "url is not a valid URL";
  const url = new URL(text);
  // A secret in the url would be shown with the source and logged with every fetch of it.
  if (url.username !== "" || url.password !== "") {
    return "url must not carry a user or password; give the source a credential instead";
  }
  if (policy.allowedOrigins.includes(url.origin)) return null;
  if (url.protocol !== "https:") return "url must be https (SOURCE_URL_ALLOW admits other origins)";
  const host = url.hostname.replace(/\.+$/, "").toLowerCase();
  if (policy.serviceHost !== undefined && host === policy.serviceHost.replace(/\.+$/, "").toLowerCase()) {
    return "url names this service itself";
  }
  const address = internalAddress(host);
  if (address === true) return "url names a loopback, private, link-local or otherwise internal address";
  if (address === undefined && isInternalName(host))
    return "url names a host that is not on the public internet";
  return null;
}

/** Names that only mean something inside a network: one label, or a suffix kept for local use. */
const INTERNAL_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "intranet",
  "lan",
  "home",
  "corp",
  "localdomain",
  "home.arpa",
  "arpa",
];

function isInternalName(host: string): boolean {
  if (!host.includes(".")) return true;
  return INTERNAL_SUFFIXES.some((suffix) => host === suffix || host.endsWith(`.${suffix}`));
}

/** Whether an IP address literal is internal; undefined when `host` is a name, not an address. */
function internalAddress(host: string): boolean | undefined {
  const v4 = parseIpv4(host);
  if (v4 !== null) return isInternalIpv4(v4);
  if (host.startsWith("[") && host.endsWith("]")) {
    const v6 = parseIpv6(host.slice(1, -1));
    return v6 === null || isInternalIpv6(v6);
  }
  return undefined;
}

/** [network, prefix length]: everything but the public unicast internet. */
const INTERNAL_IPV4: readonly [string, number][] = [
  ["0.0.0.0", 8], // "this network", including 0.0.0.0
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // CGNAT, where some clouds put their metadata service (100.100.100.200)
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local: the 169.254.169.254 metadata service
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments, including 192.0.0.192 metadata
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and the broadcast address
];

const INTERNAL_IPV4_RANGES = INTERNAL_IPV4.map(([network, bits]) => ({
  network: parseIpv4(network)!,
  mask: bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0,
}));

function isInternalIpv4(address: number): boolean {
  return INTERNAL_IPV4_RANGES.some(({ network, mask }) => (address & mask) >>> 0 === network);
}

/** A dotted-decimal IPv4 address as a 32-bit number, or null. */
function parseIpv4(host: string): number | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) {
    return null;
  }
  return parts.reduce((address, part) => address * 256 + Number(part), 0);
}

/** An IPv6 address as eight 16-bit groups, or null; WHATWG URL has already checked its form. */
function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string | undefined) =>
    half ? half.split(":").map((g) => Number.parseInt(g, 16)) : [];
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail];
  return all.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? all : null;
}

function isInternalIpv6(g: number[]): boolean {
  const embeddedV4 = (high: number, low: number) => (high * 0x10000 + low) >>> 0;
  const zeroUpTo = (end: number) => g.slice(0, end).every((group) => group === 0);
  // :: and ::1; ::a.b.c.d (IPv4-compatible) and ::ffff:a.b.c.d (IPv4-mapped) reach the IPv4 address.
  if (zeroUpTo(7) && g[7]! <= 1) return true;
  if (zeroUpTo(6)) return isInternalIpv4(embeddedV4(g[6]!, g[7]!));
  if (zeroUpTo(5) && g[5] === 0xffff) return isInternalIpv4(embeddedV4(g[6]!, g[7]!));
  // SIIT's IPv4-translated form, ::ffff:0:a.b.c.d, reaches the IPv4 address too.
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return isInternalIpv4(embeddedV4(g[6]!, g[7]!));
  // NAT64 (64:ff9b::/96) translates to the embedded IPv4 address; its local-use block is internal.
  if (g[0] === 0x64 && g[1] === 0xff9b) return g[2] !== 0 || isInternalIpv4(embeddedV4(g[6]!, g[7]!));
  // 6to4 (2002::/16) tunnels to the IPv4 address in its next 32 bits.
  if (g[0] === 0x2002) return isInternalIpv4(embeddedV4(g[1]!, g[2]!));
  const first = g[0]!;
  return (
    (first === 0x0100 && g[1] === 0 && g[2] === 0 && g[3] === 0) || // discard-only, 100::/64
    (first === 0x2001 && g[1] === 0) || // Teredo: its addresses hide an IPv4 endpoint
    (first === 0x2001 && g[1] === 0x0db8) || // documentation
    (first & 0xfe00) === 0xfc00 || // unique local, fc00::/7 (fd00::)
    (first & 0xffc0) === 0xfe80 || // link-local
    (first & 0xffc0) === 0xfec0 || // site-local, deprecated but still routed inside some networks
    (first & 0xff00) === 0xff00 // multicast
  );
}
