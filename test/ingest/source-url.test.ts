import { describe, expect, it } from "vitest";
import { sourceUrlProblem } from "../../src/ingest/source-url";

const policy = { allowedOrigins: ["http://127.0.0.1:8788"], serviceHost: "bench.example.com" };
const INTERNAL = "url names a loopback, private, link-local or otherwise internal address";

describe("sourceUrlProblem", () => {
  it.each([
    "https://[::ffff:0:127.0.0.1]/a.csv", // SIIT, IPv4-translated
    "https://[::ffff:0:a9fe:a9fe]/a.csv", // the same form in hex groups: 169.254.169.254
    "https://[::127.0.0.1]/a.csv", // IPv4-compatible
    "https://[64:ff9b::10.0.0.1]/a.csv", // NAT64 to a private address
    "https://[64:ff9b:1::1]/a.csv", // NAT64's local-use block
    "https://[2002:c0a8:0101::1]/a.csv", // 6to4 from 192.168.1.1
    "https://[2001:0:4136:e378::1]/a.csv", // Teredo
    "https://[fe80::1]/a.csv",
    "https://[ff02::1]/a.csv",
    "https://172.31.255.255/a.csv",
    "https://100.64.0.1/a.csv",
    "https://255.255.255.255/a.csv",
  ])("refuses the internal address %s", (url) => {
    expect(sourceUrlProblem(url, policy)).toBe(INTERNAL);
  });

  it.each([
    "https://[::ffff:0:8.8.8.8]/a.csv",
    "https://[64:ff9b::8.8.8.8]/a.csv",
    "https://[2606:4700::1111]/a.csv",
    "https://172.32.0.1/a.csv",
    "https://100.128.0.1/a.csv",
    "https://feeds.example.org/a.csv",
  ])("admits the public %s", (url) => {
    expect(sourceUrlProblem(url, policy)).toBeNull();
  });

  it("judges names by spelling: one label or a local-use suffix is refused", () => {
    for (const url of ["https://intranet/a.csv", "https://db.corp/a.csv", "https://printer.local./a.csv"])
      expect(sourceUrlProblem(url, policy)).toBe("url names a host that is not on the public internet");
  });

  it("refuses the service's own host, in any case and with a trailing dot", () => {
    expect(sourceUrlProblem("https://BENCH.example.com./x", policy)).toBe("url names this service itself");
  });

  it("admits an allow-listed origin over http, but never a user or password, even there", () => {
    expect(sourceUrlProblem("http://127.0.0.1:8788/feed.csv", policy)).toBeNull();
    expect(sourceUrlProblem("http://127.0.0.1:8789/feed.csv", policy)).toBe(
      "url must be https (SOURCE_URL_ALLOW admits other origins)",
    );
    for (const url of ["http://user:secret@127.0.0.1:8788/feed.csv", "https://user@feeds.example.org/a.csv"])
      expect(sourceUrlProblem(url, policy)).toBe(
        "url must not carry a user or password; give the source a credential instead",
      );
  });

  it("says an unparsable url is not a URL", () => {
    expect(sourceUrlProblem("https://", policy)).toBe("url is not a valid URL");
  });
});
