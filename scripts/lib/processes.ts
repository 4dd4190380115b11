/** The processes of a local server, as /proc describes them: for its CPU time, its memory, and the chaos test's kills. */
import { readdir, readFile } from "node:fs/promises";

/** The fields of /proc/<pid>/stat the scripts read. */
export interface ProcessStat {
  pid: number;
  command: string;
  processGroup: number;
  /** User and system clock ticks of the process itself. */
  ownTicks: number;
  /** The same, of its waited-for children. */
  childTicks: number;
}

/** Parses /proc/<pid>/stat; the command, in parentheses, may hold spaces and parentheses itself. */
export function parseProcStat(stat: string): ProcessStat {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid: Number(stat.slice(0, stat.indexOf(" "))),
    command: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
    processGroup: Number(fields[2]),
    ownTicks: Number(fields[11]) + Number(fields[12]),
    childTicks: Number(fields[13]) + Number(fields[14]),
  };
}

/** Every process of the group now; one that exits between the listing and its read is left out. */
export async function processesOfGroup(processGroup: number): Promise<ProcessStat[]> {
  const found: ProcessStat[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => undefined);
    const parsed = stat && parseProcStat(stat);
    if (parsed && parsed.processGroup === processGroup) found.push(parsed);
  }
  return found;
}
