/**
 * Serves the example source files in scripts/feeds/files over HTTP, so a source registered with
 * a url can be refreshed locally without the internet:
 *
 *   npm run feeds            # http://127.0.0.1:8788/acme-ndr.csv, FEEDS_PORT to change the port
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { basename, join } from "node:path";

const FILES = join(import.meta.dirname, "files");
const TYPES: Record<string, string> = { csv: "text/csv", json: "application/json" };

export function serveFeeds(port: number): Promise<Server> {
  const server = createServer(async (request, response) => {
    // basename keeps requests inside the folder: "/../x" serves "x" from it or nothing.
    const name = basename(new URL(request.url ?? "/", "http://feeds").pathname);
    try {
      const body = await readFile(join(FILES, name));
      response.writeHead(200, { "Content-Type": TYPES[name.split(".").pop() ?? ""] ?? "text/plain" });
      response.end(body);
    } catch {
      response.writeHead(404, { "Content-Type": "text/plain" }).end(`no file ${name}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

if (process.argv[1] === import.meta.filename) {
  const port = Number(process.env.FEEDS_PORT ?? 8788);
  await serveFeeds(port);
  console.log(`Serving ${FILES} on http://127.0.0.1:${port}/`);
}
