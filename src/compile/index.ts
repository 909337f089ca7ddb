export { compile, type CompileOptions, type CompiledFunction, type CompiledGraph } from "./compile.js";
export { CaptureError } from "./trace.js";
export type { GraphInfo, Unit, BackwardStep } from "./graph.js";
export type { MemoryReport, BufferSlot } from "./plan.js";
