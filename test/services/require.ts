import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** True when every test must really run: CI (`CI=true`) or `.ci/run` (SAFEPOINT_TEST_REQUIRE_ALL=1). */
export function servicesRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.SAFEPOINT_TEST_REQUIRE_ALL === '1';
}

/**
 * A test needs a service this machine does not have: locally the test is skipped with the reason shown; under CI
 * it fails, so a missing package never turns into a silently green run. Returns false when the caller must stop.
 */
export function needService(t: TestContext, available: boolean, reason: string): boolean {
  if (available) return true;
  if (servicesRequired()) throw new Error(`required service missing under CI: ${reason}`);
  t.skip(reason);
  return false;
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error, String(err));
    return err;
  }
  assert.fail('expected a failure');
}
