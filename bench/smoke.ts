// The CI smoke run: every workload (W1..W5, the naive-vs-fast conv ratio, the RSS check) and every
// peer at tiny sizes with a few runs, so that each runner is exercised end to end in well under a
// minute. Same as `npm run bench -- --smoke`:
//   node --import tsx bench/smoke.ts [--only ...] [--peers ...]
// Exits non-zero only when one of cnnlab's own runners crashes; slow numbers and missing peers are
// printed, never fatal. The sizes are SMOKE in bench/peers/shapes.ts.
import { parseArgs, runAll } from "./run.js";

const r = await runAll(parseArgs(["--smoke", ...process.argv.slice(2).filter((a) => a !== "--smoke")]));
if (r.crashed.length > 0) process.exitCode = 1;
