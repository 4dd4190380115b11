import { z } from "zod";
import { ServiceError } from "../domain/errors";

/**
 * Source credentials (tokens for paid sources) are sealed with AES-256-GCM before they are
 * stored: "v1.<key id>.<iv>.<ciphertext>", base64url, with the source id as additional data so
 * a sealed value cannot be moved to another source. Keys come from the CREDENTIAL_KEYS secret,
 * a JSON object of key id → base64 32-byte key; CREDENTIAL_KEY_ID names the one new values are
 * sealed with. Old keys stay listed until every value sealed with them has been rewritten.
 */
interface CredentialKeys {
  currentId: string;
  keys: Map<string, CryptoKey>;
}

const keysSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  z.string().refine((text) => decode(text).length === 32, "each key must be 32 bytes, base64"),
);

const unavailable = (detail: string) => new ServiceError("unavailable", "credential-keys-missing", detail);

function decode(base64: string): Uint8Array {
  try {
    return Uint8Array.from(atob(base64.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array();
  }
}

const encode = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** The configured keys; a 503 naming what is wrong when they are missing or malformed. */
export async function loadCredentialKeys(env: {
  CREDENTIAL_KEYS?: string;
  CREDENTIAL_KEY_ID?: string;
}): Promise<CredentialKeys> {
  if (!env.CREDENTIAL_KEYS || !env.CREDENTIAL_KEY_ID) {
    throw unavailable(
      "CREDENTIAL_KEYS and CREDENTIAL_KEY_ID must be set before sources can hold credentials.",
    );
  }
  let raw: Record<string, string>;
  try {
    raw = keysSchema.parse(JSON.parse(env.CREDENTIAL_KEYS));
  } catch {
    throw unavailable("CREDENTIAL_KEYS must be a JSON object of key ids to 32-byte base64 keys.");
  }
  if (!Object.hasOwn(raw, env.CREDENTIAL_KEY_ID)) {
    throw unavailable(`CREDENTIAL_KEY_ID "${env.CREDENTIAL_KEY_ID}" is not among CREDENTIAL_KEYS.`);
  }
  const keys = new Map<string, CryptoKey>();
  for (const [id, key] of Object.entries(raw)) {
    keys.set(id, await crypto.subtle.importKey("raw", decode(key), "AES-GCM", false, ["encrypt", "decrypt"]));
  }
  return { currentId: env.CREDENTIAL_KEY_ID, keys };
}

export async function sealCredential(
  keys: CredentialKeys,
  sourceId: string,
  credential: string,
): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(sourceId) },
    keys.keys.get(keys.currentId)!,
    new TextEncoder().encode(credential),
  );
  return ["v1", keys.currentId, encode(iv), encode(new Uint8Array(ciphertext))].join(".");
}

/** The credential, or an error that says why it cannot be had and never what it is. */
export async function openCredential(
  keys: CredentialKeys,
  sourceId: string,
  sealed: string,
): Promise<string> {
  const [version, keyId, iv, ciphertext] = sealed.split(".");
  const key = keyId === undefined ? undefined : keys.keys.get(keyId);
  if (version !== "v1" || !key || !iv || !ciphertext) {
    throw new Error(`the source's credential is sealed with key "${keyId}", which is not configured`);
  }
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: decode(iv), additionalData: new TextEncoder().encode(sourceId) },
      key,
      decode(ciphertext),
    );
    return new TextDecoder().decode(plaintext);
  } catch {
    throw new Error("the source's credential does not decrypt: it was altered or sealed for another source");
  }
}
