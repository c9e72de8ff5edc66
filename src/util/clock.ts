/** Time, injected so that schedules, retention and RPO math can be tested. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that stays where it is put; for tests. */
export function fixedClock(at: Date | string): Clock & { set(to: Date | string): void } {
  let t = new Date(at);
  return { now: () => new Date(t), set: (to) => { t = new Date(to); } };
}
