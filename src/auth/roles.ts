/** Roles a token can carry, weakest first; each may do what the ones before it may. */
const ROLES = ["viewer", "analyst", "admin"] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a route needs. `catalogue` is the reference data (metrics, bands); `read` is benchmarks
 * and time series; `analyze` adds ranking and scorecards, which take a company's own values;
 * `admin` is sources, rules, uploads and runs.
 */
export type Access = "public" | "catalogue" | "read" | "analyze" | "admin";

/** Which access an anonymous caller gets: none, the catalogue, or the catalogue and the reads. */
export type AnonymousAccess = "none" | "catalogue" | "read";

/** The weakest role that may use each kind of route. */
export const LEAST_ROLE: Record<Exclude<Access, "public">, Role> = {
  catalogue: "viewer",
  read: "viewer",
  analyze: "analyst",
  admin: "admin",
};

/** Who is calling: a verified token's subject and roles, or an anonymous caller. */
export type Principal =
  | {
      kind: "user";
      subject: string;
      role: Role;
      /** Who called, without saying who, for log lines: hashed once, when the token is verified. */
      subjectHash: string;
    }
  | { kind: "anonymous"; address: string };

const rank = (role: Role) => ROLES.indexOf(role);

/** The strongest of the roles a token lists; undefined when it lists none we know. */
export function strongestRole(names: readonly string[]): Role | undefined {
  const known = ROLES.filter((role) => names.includes(role));
  return known.at(-1);
}

export function anonymousMay(access: Access, anonymous: AnonymousAccess): boolean {
  if (access === "public") return true;
  if (access === "catalogue") return anonymous !== "none";
  if (access === "read") return anonymous === "read";
  return false;
}

/** Whether a principal may use a route that needs `access`. */
export function allows(principal: Principal, access: Access, anonymous: AnonymousAccess): boolean {
  if (principal.kind === "anonymous") return anonymousMay(access, anonymous);
  return access === "public" || rank(principal.role) >= rank(LEAST_ROLE[access]);
}

export const isAdmin = (principal: Principal | undefined) =>
  principal?.kind === "user" && principal.role === "admin";
