import { applyD1Migrations, env } from "cloudflare:test";

// The real migrations, applied to each test file's isolated D1 before its tests run.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
