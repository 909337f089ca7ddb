import { registerGlobalState } from "../runtime/state.js";

/**
 * A seeded xoshiro128** generator: 32-bit integer arithmetic only, so the same seed gives the same
 * numbers on every machine and JS engine.
 */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  constructor(seed = 0) {
    this.seed(seed);
  }

  seed(seed: number): void {
    if (!Number.isFinite(seed)) throw new TypeError(`manualSeed: seed must be a finite number, got ${seed}`);
    // splitmix32 spreads the seed over the four state words
    let x = Math.trunc(seed) >>> 0;
    const hi = Math.floor(Math.trunc(seed) / 2 ** 32) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x ^ hi;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spareNormal = null;
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal via the Box-Muller transform (pairs cached). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer uniform in [low, high). */
  integer(low: number, high: number): number {
    return low + Math.floor(this.random() * (high - low));
  }

  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** The whole state (the cached normal included), for the state registry. */
  snapshot(): [number, number, number, number, number | null] {
    return [this.s0, this.s1, this.s2, this.s3, this.spareNormal];
  }

  restoreSnapshot(s: [number, number, number, number, number | null]): void {
    [this.s0, this.s1, this.s2, this.s3, this.spareNormal] = s;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export const defaultGenerator = new Generator(0x5eed);

registerGlobalState({
  name: "tensor/random: defaultGenerator",
  save: () => defaultGenerator.snapshot(),
  restore: (saved) => defaultGenerator.restoreSnapshot(saved),
});

/** Makes every random call (rand, randn, randint, dropout, shuffling) reproducible. */
export function manualSeed(seed: number): void {
  defaultGenerator.seed(seed);
}
