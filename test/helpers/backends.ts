import { listBackends } from "../../src/index.js";

/**
 * Whether backend `name` loads here. On a user's machine a missing backend skips its tests with a
 * warning; with CI=true every backend must load (test/backend/native/select.test.ts fails otherwise).
 */
export function backendLoads(name: string): boolean {
  const ok = listBackends().includes(name);
  if (!ok && process.env.CI !== "true") {
    console.warn(
      `SKIPPING the ${name} backend's tests: it does not load on this machine (see backendInfo())`,
    );
  }
  return ok;
}
